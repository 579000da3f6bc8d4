"""Notices that a pipeline moved, from PostgreSQL (migration 0015): inserting or updating a
pipeline, or changing a job's state, result, progress or message, sends ``NOTIFY
carbon_pipeline_changes`` with the pipeline id when the transaction commits, whoever wrote it
(a worker, the CLI, another API process).

``watch`` is a blocking loop for a thread of its own: it LISTENs on a connection of its own
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


def watch(on_change: Callable[[int], None], on_live: Callable[[bool], None],
          stop: threading.Event) -> None:
    """Listen until ``stop`` is set (see the module docstring)."""
    if not supported():
        return
    delay = RETRY_SECONDS
    went_live: list[bool] = []

    def live(state: bool) -> None:
        went_live.append(state)
        on_live(state)

    while not stop.is_set():
        went_live.clear()
        try:
            _listen(on_change, live, stop)
            return
        except Exception as exc:  # noqa: BLE001 - any failure: the connection is gone
            on_live(False)
            delay = RETRY_SECONDS if any(went_live) else min(delay * 2, RETRY_MAX_SECONDS)
            log.warning("pipeline change notices lost (%s); reconnecting in %.0f s", exc, delay)
            stop.wait(delay)


def _listen(on_change: Callable[[int], None], on_live: Callable[[bool], None],
            stop: threading.Event) -> None:
    # A connection of its own, outside the pool: it stays in LISTEN for the process's life.
    raw = get_engine().raw_connection()
    try:
        raw.detach()
        # psycopg2's connection (SQLAlchemy types it as the bare DBAPI protocol).
        conn: Any = raw.dbapi_connection
        assert conn is not None
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"LISTEN {CHANNEL}")
        on_live(True)
        while not stop.is_set():
            ready, _, _ = select.select([conn], [], [], WAIT_SECONDS)
            if not ready:
                continue
            conn.poll()
            n = len(conn.notifies)
            conn.notifies.clear()
            if n:
                on_change(n)
    finally:
        on_live(False)
        raw.close()
