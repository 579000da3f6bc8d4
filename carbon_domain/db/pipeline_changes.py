"""Notices that a pipeline moved, from PostgreSQL (migration 0015): inserting or updating a
pipeline, or changing a job's state, result, progress or message, sends ``NOTIFY
carbon_pipeline_changes`` with the pipeline id when the transaction commits, whoever wrote it
(a worker, the CLI, another API process).

``Listener`` waits for notices on a connection of its own (the CLI's ``--wait``). ``watch``
is a blocking loop for a thread of its own (the console's streams): it LISTENs
and calls ``on_change`` with the number of notices each time some arrive, and ``on_live``
with True once listening and False when the connection is lost (it reconnects, waiting 1 s,
then up to 10 s, between tries). SQLite has no notices: ``watch`` returns at once and the
readers keep polling.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable
from typing import Any

from carbon_domain.db.session import get_engine

CHANNEL = "carbon_pipeline_changes"
# How long one wait for a notice lasts before ``stop`` is checked again.
WAIT_SECONDS = 1.0
RETRY_SECONDS, RETRY_MAX_SECONDS = 1.0, 10.0

log = logging.getLogger("carbon.pipeline_changes")


def supported() -> bool:
    return get_engine().dialect.name == "postgresql"


class Listener:
    """One LISTEN connection of its own, outside the pool (``with Listener() as li:``):
    ``li.wait(seconds)`` returns how many notices arrived, 0 after ``seconds`` without
    one; a lost connection raises (psycopg2's OperationalError)."""

    def __init__(self) -> None:
        self._raw: Any = None
        self._conn: Any = None

    def __enter__(self) -> Listener:
        raw = get_engine().raw_connection()
        try:
            raw.detach()  # it stays in LISTEN: never back into the pool
            # psycopg2's connection (SQLAlchemy types it as the bare DBAPI protocol).
            conn: Any = raw.dbapi_connection
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            raw.close()
            raise
        self._raw, self._conn = raw, conn
        return self

    def __exit__(self, *exc: object) -> None:
        if self._raw is not None:
            self._raw.close()
        self._raw = self._conn = None

    def wait(self, seconds: float) -> int:
        conn = self._conn
        ready, _, _ = select.select([conn], [], [], max(0.0, seconds))
        if not ready:
            return 0
        conn.poll()
        n = len(conn.notifies)
        conn.notifies.clear()
        return n


def watch(on_change: Callable[[int], None], on_live: Callable[[bool], None],
          stop: threading.Event) -> None:
    """Listen until ``stop`` is set (see the module docstring)."""
    if not supported():
        return
    delay = RETRY_SECONDS
    while not stop.is_set():
        went_live = False
        try:
            with Listener() as listener:
                went_live = True
                on_live(True)
                while not stop.is_set():
                    n = listener.wait(WAIT_SECONDS)
                    if n:
                        on_change(n)
            on_live(False)
            return
        except Exception as exc:  # noqa: BLE001 - any failure: the connection is gone
            on_live(False)
            delay = RETRY_SECONDS if went_live else min(delay * 2, RETRY_MAX_SECONDS)
            log.warning("pipeline change notices lost (%s); reconnecting in %.0f s", exc, delay)
            stop.wait(delay)
