"""The embedded default: an in-process Celery worker on the memory broker, so the whole
pipeline runs in one process on a bare machine (SQLite file, no servers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from celery.contrib.testing.worker import start_worker

import carbon_tasks.tasks  # noqa: F401 - register every task before the worker starts
import celeryconfig
from carbon_domain.db import migrate
from carbon_domain.settings import get_settings
from carbon_tasks.app import app

# Every queue celeryconfig declares: the embedded worker consumes them all.
QUEUES = tuple(q.name for q in celeryconfig.task_queues)


@contextmanager
def embedded_worker(concurrency: int = 2) -> Iterator[Any]:
    """Run a worker thread for the duration of the block."""
    with start_worker(app, pool="threads", concurrency=concurrency, perform_ping_check=False,
                      loglevel="WARNING", queues=list(QUEUES), shutdown_timeout=30.0,
                      hostname="embedded@localhost") as w:
        yield w


def worker_if_embedded(concurrency: int = 2) -> Any:
    """An in-process worker when the broker is the embedded one; external workers otherwise."""
    return embedded_worker(concurrency) if get_settings().embedded_broker else nullcontext()


def ensure_schema() -> None:
    """Migrate the embedded SQLite database on first use (servers use `carbon db upgrade`)."""
    if get_settings().is_sqlite:
        migrate.upgrade()
