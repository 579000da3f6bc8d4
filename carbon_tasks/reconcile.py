"""The periodic reconciler (Celery beat, every minute)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from functools import partial
from typing import Any

from carbon_domain import task_names as tn
from carbon_domain.db import locks
from carbon_domain.db.session import session_scope
from carbon_domain.services.upkeep import reconcile as service
from carbon_tasks.app import app
from carbon_tasks.base import CarbonTask
from carbon_tasks.dispatch import BrokerUnavailable, dispatch_jobs

log = logging.getLogger("carbon.tasks.reconcile")


@app.task(base=CarbonTask, bind=True, name=tn.RECONCILE, acks_late=False,
          max_retries=0)
def reconcile(self: Any) -> dict[str, Any]:
    """Dispatch orphaned jobs, retry or give up stuck ones, close module-level jobs whose
    types are done, backfill trailing aggregations and recompute pipeline status. Beat does
    not prevent overlap, so a lock does."""
    with session_scope() as s:
        if not locks.try_xact_lock(s, locks.RECONCILER, 0):
            return {"skipped": "another reconciler is running"}
        repairs, to_dispatch = service.reconcile(s)
        summary: dict[str, Any] = {**asdict(repairs), **service.close_orphans(s)}
    with session_scope() as s:
        due = sorted(service.due_aggregations(s))
    backfilled = []
    for module, year in due:
        job_id = locks.retry_conflicts(partial(_backfill, module, year))
        if job_id is not None:
            backfilled.append(job_id)
    summary["aggregations_backfilled"] = len(backfilled)
    try:
        dispatch_jobs(sorted(set(to_dispatch + backfilled)))
    except BrokerUnavailable as exc:
        summary["dispatch_error"] = str(exc)
    if any(v for k, v in summary.items() if k != "pipelines_closed"):
        log.info("reconcile: %s", summary)
    return summary


def _backfill(module: int, year: int) -> int | None:
    with session_scope() as s:
        return service.backfill_aggregation(s, module, year)
