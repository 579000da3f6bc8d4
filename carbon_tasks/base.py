"""The task base class: transient-error retries with backoff, job bookkeeping on failure."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError

from carbon_domain.services.jobs import ClaimBusy

log = logging.getLogger("carbon.tasks")

# Connection loss, server restart, serialization failure: the transaction rolled back, so
# running the (idempotent) task again is always safe.
TRANSIENT = (OperationalError, ClaimBusy)


class CarbonTask(Task):  # type: ignore[misc]
    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = TRANSIENT
    retry_backoff = 1
    retry_backoff_max = 30
    retry_jitter = True
    max_retries = 6
    # A task that owns its job closes it on a final failure; a chunk does not (its chord's
    # errback closes the job and its module-level job together).
    finishes_job_on_failure = True

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        """A job whose task failed for good is finished as ERROR now, not left RUNNING
        for the reconciler to find an hour later."""
        job_id = kwargs.get("job_id") if isinstance(kwargs, dict) else None
        if job_id is None or not self.finishes_job_on_failure:
            return
        try:
            from carbon_domain.db.session import session_scope
            from carbon_domain.services import jobs
            from carbon_domain.db.models import DataIngestionJob

            with session_scope() as s:
                jobs.lock_related(s, {job_id})  # lock order: pipelines before the job row
                job = s.get(DataIngestionJob, job_id)
                if job is not None and job.state == "RUNNING":
                    from carbon_domain.db.enums import JobResult
                    jobs.finish(s, job_id, None, JobResult.ERROR,
                                f"ERROR: {type(exc).__name__}: {exc}"[:500])
                    if job.pipeline_id:
                        jobs.recompute_pipeline_status(s, job.pipeline_id)
        except Exception:  # noqa: BLE001 - the reconciler heals whatever this misses
            log.exception("could not record the failure of job %s", job_id)
