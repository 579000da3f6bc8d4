"""Send committed job rows to the broker (the outbox's second half).

Callers commit job rows first and dispatch after; if the process dies in between, the
reconciler finds the NOT_STARTED rows and dispatches them. A duplicate dispatch is
harmless: the second message finds its job already claimed.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict

from celery.canvas import Signature
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import select

from carbon_domain.db.enums import JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_domain.services import jobs as job_service

log = logging.getLogger("carbon.dispatch")


class BrokerUnavailable(RuntimeError):
    pass


def dispatch_jobs(job_ids: list[int]) -> None:
    """Publish one message per job (one plan message per pipeline for recalculations)."""
    from carbon_tasks import pipeline

    if not job_ids:
        return
    with session_scope() as s:
        rows = list(s.scalars(select(Job).where(
            Job.id.in_(job_ids), Job.state == JobState.NOT_STARTED).order_by(Job.id)))
        recalc: dict[object, list[int]] = defaultdict(list)
        roots: dict[object, int] = {}
        singles: list[Job] = []
        for job in rows:
            if job.job_type == JobType.emission_recalc:
                recalc[job.pipeline_id].append(job.id)
            elif job.job_type == JobType.module_emission_recalc:
                roots[job.pipeline_id] = job.id
            else:
                singles.append(job)
        # A pipeline's module-level job rides with its types even when only the types were
        # picked up (e.g. re-dispatched by the reconciler): the plan starts it, and the
        # finish closes it. A root without types to plan is left alone; it is closed when
        # the types it waits for are done.
        waiting = {pid: rid for rid, pid in s.execute(select(Job.id, Job.pipeline_id).where(
            Job.pipeline_id.in_([p for p in recalc if p is not None and p not in roots]),
            Job.job_type == JobType.module_emission_recalc,
            Job.state.in_((JobState.NOT_STARTED, JobState.QUEUED))))}
        plans = [(pid, ids, roots.get(pid) or waiting.get(pid)) for pid, ids in recalc.items()]
        singles_info = [(j.id, j.job_type, pipeline.requests_recalculation(j.job_type, j.meta))
                        for j in singles]
    # Checked once per batch, not per message: a down backend fails every send alike.
    backend_problem = _result_backend_problem()
    failures: list[str] = []
    for job_id, job_type, then_plan in singles_info:
        task_id = str(uuid.uuid4())
        sig = pipeline.job_signature(job_id, job_type, task_id, then_plan=then_plan)
        failures += _send(sig, task_id, [job_id], backend_problem)
    for pid, ids, root in plans:
        task_id = str(uuid.uuid4())
        sig = pipeline.plan_signature(str(pid) if pid else None, ids, root, task_id)
        failures += _send(sig, task_id, ids + ([root] if root else []), backend_problem)
    if failures:
        raise BrokerUnavailable(failures[0])


def _result_backend_problem() -> str | None:
    """Publishing subscribes to the task's result channel on a Redis result backend; with
    that Redis down, Celery retries for ~20 s and then raises RuntimeError. One PING first
    lets an outage fail fast (and be recorded) instead."""
    from carbon_tasks.app import app

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
