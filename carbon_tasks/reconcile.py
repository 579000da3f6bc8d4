"""The periodic reconciler (Celery beat, every minute)."""

from __future__ import annotations

import logging
from typing import Any

from carbon_domain.db import locks
from carbon_domain.db.session import session_scope
from carbon_domain.services.reconcile import reconcile as decide
from carbon_tasks.app import app
from carbon_tasks.base import CarbonTask
from carbon_tasks.dispatch import BrokerUnavailable, dispatch_jobs

log = logging.getLogger("carbon.tasks.reconcile")
_RECONCILER_LOCK = 1240


@app.task(base=CarbonTask, bind=True, name="carbon.reconcile", acks_late=False,
          max_retries=0)
def reconcile(self: Any) -> dict[str, Any]:
    """Dispatch orphaned jobs, retry or give up stuck ones, backfill aggregations and
    recompute pipeline status. Beat does not prevent overlap, so a lock does."""
    with session_scope() as s:
        if not locks.try_xact_lock(s, _RECONCILER_LOCK, 0):
            return {"skipped": "another reconciler is running"}
        summary, to_dispatch = decide(s)
    try:
        dispatch_jobs(to_dispatch)
    except BrokerUnavailable as exc:
        summary["dispatch_error"] = str(exc)
    if any(v for k, v in summary.items() if k != "pipelines_closed"):
        log.info("reconcile: %s", summary)
    return summary
