"""This API process's view of the database's pipeline change notices
(``carbon_domain/db/pipeline_changes.py``): a counter the console's event streams compare
between polls, kept by one listening thread per process, started by the first stream.

While the thread listens (``live``), a stream wakes as soon as a pipeline of any origin
moves — a worker's chunk, the CLI, another API process — and polls at once, instead of at
its next interval; the interval is then only a safety net. When it does not (SQLite, or the
connection lost and not yet back), the streams poll at their own pace as before.
"""

from __future__ import annotations

import threading

from carbon_domain.db import pipeline_changes


class _Changes:
    def __init__(self) -> None:
        self.value = 0       # notices received by this process
        self.live = False    # listening now
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the listening thread once per process (a daemon: it ends with the process)."""
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=pipeline_changes.watch, args=(self._changed, self._set_live, self._stop),
                name="pipeline-change-notices", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=pipeline_changes.WAIT_SECONDS + 1)
        self._thread = None

    def _changed(self, n: int) -> None:
        self.value += n  # one writer (the thread); readers only compare

    def _set_live(self, live: bool) -> None:
        self.live = live


changes = _Changes()
