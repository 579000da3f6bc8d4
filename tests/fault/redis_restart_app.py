"""The Celery app of tests/fault/redis_restart_repro.py: Celery's defaults plus the three
settings the bug needs (late acks, so a running task's message is unacked; the cancel on
connection loss this project sets; a Redis broker). The consumer class comes from the
environment: Celery's own, or the project's fix (carbon_tasks/consumer.py)."""

from __future__ import annotations

import os
import time

from celery import Celery

app = Celery("redis_restart_repro", broker=os.environ["REPRO_BROKER_URL"])
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    broker_connection_retry_on_startup=True,
    task_default_queue="repro",
    # The BRPOP that waits for work is renewed every `polling_interval` seconds (1 by
    # default); in the renewal's few milliseconds none is pending and the bug cannot happen.
    # 30 s keeps one pending for the whole staged restart, so every run meets the bug.
    broker_transport_options={"polling_interval": 30},
    worker_consumer=os.environ.get("REPRO_CONSUMER", "celery.worker.consumer:Consumer"),
)


@app.task
def hold(seconds: float) -> float:
    """Keeps its message unacked while it runs."""
    time.sleep(seconds)
    return seconds


@app.task
def ping() -> str:
    return "pong"
