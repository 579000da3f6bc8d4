"""Notices that a pipeline moved, from PostgreSQL (migration 0015): inserting or updating a
pipeline, or changing a job's state, result, progress or message, sends ``NOTIFY
carbon_pipeline_changes`` with the pipeline id when the transaction commits, whoever wrote it
(a worker, the CLI, another API process).

``Listener`` waits for notices on a connection of its own and returns their pipeline ids
(the CLI's ``--wait``). ``watch`` is a blocking loop for a thread of its own (the console's
streams): it LISTENs and calls ``on_change`` with the number of notices each time some
arrive (and once each time listening starts), and ``on_live`` with True once listening and
False when the connection is lost: it reconnects, waiting 1 s, then 2, 4, up to 10 s
between tries, and checks a silent connection every 30 s. SQLite has no notices: ``watch``
returns at once and the readers keep polling.
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
# After this long without a notice the listening connection is checked with a round trip
# (a dropped network path leaves the socket silent, not closed).
PING_AFTER_SECONDS = 30.0

log = logging.getLogger("carbon.pipeline_changes")


def supported() -> bool:
    return get_engine().dialect.name == "postgresql"


class Listener:
    """One LISTEN connection of its own, outside the pool (``with Listener() as li:``):
    ``li.wait(seconds)`` returns the pipeline ids of the notices that arrived, [] after
    ``seconds`` without one; a lost connection raises (psycopg2's OperationalError)."""

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

    def wait(self, seconds: float) -> list[str]:
        """The pipeline ids of the notices that arrived (repeats included), waiting up to
        ``seconds`` for the first; [] when none came."""
        conn = self._conn
        if not conn.notifies:  # none already read off the socket: wait for some
            ready, _, _ = select.select([conn], [], [], max(0.0, seconds))
            if not ready:
                return []
            conn.poll()
        ids = [n.payload for n in conn.notifies]
        conn.notifies.clear()
        return ids

    def ping(self) -> None:
        """One round trip: a connection the server or the network dropped without closing
        its socket raises here instead of waiting in silence for ever."""
        with self._conn.cursor() as cur:
            cur.execute("SELECT 1")
        self._conn.poll()


def watch(on_change: Callable[[int], None], on_live: Callable[[bool], None],
          stop: threading.Event) -> None:
    """Listen until ``stop`` is set (see the module docstring). Each time listening
    (re)starts, ``on_change(1)`` once: a change committed while nobody listened (before the
    first LISTEN, or during a reconnection) sent a notice no one heard, so the readers read
    once more."""
    if not supported():
        return
    delay = RETRY_SECONDS
    while not stop.is_set():
        try:
            with Listener() as listener:
                delay = RETRY_SECONDS
                on_live(True)
                on_change(1)
                quiet = 0.0
                while not stop.is_set():
                    ids = listener.wait(WAIT_SECONDS)
                    if ids:
                        on_change(len(ids))
                        quiet = 0.0
                        continue
                    quiet += WAIT_SECONDS
                    if quiet >= PING_AFTER_SECONDS:
                        listener.ping()
                        quiet = 0.0
            on_live(False)
            return
        except Exception as exc:  # noqa: BLE001 - any failure: the connection is gone
            on_live(False)
            log.warning("pipeline change notices lost (%s); reconnecting in %.0f s", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
