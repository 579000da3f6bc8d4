"""Send committed job rows to the broker (the outbox's second half).

Callers commit job rows first and dispatch after; if the process dies in between, the
reconciler finds the NOT_STARTED rows and dispatches them. A duplicate dispatch is
harmless: the second message finds its job already claimed.
"""

from __future__ import annotations

import logging

from celery.canvas import Signature
from kombu.exceptions import OperationalError as BrokerError

from carbon_domain.db.session import session_scope
from carbon_domain.errors import Unavailable
from carbon_domain.services.jobs import jobs as job_service
from carbon_tasks import pipeline
from carbon_tasks.app import app

log = logging.getLogger("carbon.dispatch")


class BrokerUnavailable(Unavailable, RuntimeError):
    """The message broker did not take a message (the job rows stay for the reconciler)."""


def dispatch_jobs(job_ids: list[int]) -> None:
    """Publish the messages that run these jobs (``pipeline.messages`` decides which)."""
    if not job_ids:
        return
    with session_scope() as s:
        msgs = pipeline.messages(s, job_ids)
    # Checked once per batch, not per message: a down backend fails every send alike.
    backend_problem = _result_backend_problem()
    failures: list[str] = []
    for m in msgs:
        failures += _send(m.signature, m.task_id, m.job_ids, backend_problem)
    if failures:
        raise BrokerUnavailable(failures[0])


def _result_backend_problem() -> str | None:
    """Publishing subscribes to the task's result channel on a Redis result backend; with
    that Redis down, Celery retries for ~20 s and then raises RuntimeError. One PING first
    lets an outage fail fast (and be recorded) instead."""
    client = getattr(app.backend, "client", None)
    if client is None or not hasattr(client, "ping"):
        return None
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"result backend unreachable: {exc}"
    return None


def _send(sig: Signature, task_id: str, job_ids: list[int],
          backend_problem: str | None) -> list[str]:
    try:
        if backend_problem:
            raise ConnectionError(backend_problem)
        sig.apply_async(retry=True,
                        retry_policy={"max_retries": 2, "interval_start": 0.2,
                                      "interval_step": 0.5, "interval_max": 1})
    # RuntimeError: the result backend went away between the PING and the publish.
    except (BrokerError, OSError, ConnectionError, RuntimeError) as exc:
        log.warning("broker unreachable, jobs %s stay in the outbox: %s", job_ids, exc)
        with session_scope() as s:
            for j in job_ids:
                job_service.mark_dispatch_failed(s, j, str(exc)[:200])
        return [str(exc)]
    with session_scope() as s:
        # Ascending ids, the order claims lock rows in too: no lock-order deadlock.
        for j in sorted(job_ids):
            job_service.mark_dispatched(s, j, task_id)
    return []
