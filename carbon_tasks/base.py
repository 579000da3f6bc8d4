"""The task base classes: transient-error retries with backoff, job bookkeeping on failure,
and the one job runner every single-task job (ingest, aggregation) goes through."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError

from carbon_domain.db.enums import JobResult, JobState
from carbon_domain.db.models import DataIngestionJob
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import job_runs, jobs, pipelines
from carbon_domain.services.jobs.job_runs import JobWork
from carbon_tasks.dispatch import BrokerUnavailable, dispatch_jobs

log = logging.getLogger("carbon.tasks")

# Connection loss, server restart, serialization failure: the transaction rolled back, so
# running the (idempotent) task again is always safe.
TRANSIENT = (OperationalError, jobs.ClaimBusy)


class CarbonTask(Task):
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
            with session_scope() as s:
                pipelines.lock_related(s, {job_id})  # lock order: pipelines before the job row
                job = s.get(DataIngestionJob, job_id)
                if job is not None and job.state == JobState.RUNNING:
                    jobs.finish(s, job_id, None, JobResult.ERROR,
                                f"ERROR: {type(exc).__name__}: {exc}"[:500])
                    if job.pipeline_id:
                        pipelines.recompute_pipeline_status(s, job.pipeline_id)
        except Exception:  # noqa: BLE001 - the reconciler heals whatever this misses
            log.exception("could not record the failure of job %s", job_id)


class JobTask(CarbonTask):
    """Runs one job row: claim → one session per run → the service's work → fenced finish
    → follow-up jobs and pipeline status in the same transaction → dispatch the follow-ups
    after commit (the outbox: if the broker is down the reconciler sends them later)."""

    abstract = True

    def run_job(self, job_id: int, work: JobWork) -> dict[str, Any]:
        with session_scope() as s:
            attempt = jobs.claim(s, job_id, self.request.id)
        if attempt is None:
            with session_scope() as s:
                closed = job_runs.close_out_of_attempts(s, job_id, self.request.id)
            return {"job_id": job_id, "skipped": True, "out_of_attempts": closed}
        try:
            while True:
                with session_scope() as s:
                    work.prepare(s, job_id)
                with session_scope() as s:
                    job = s.get(DataIngestionJob, job_id)
                    assert job is not None
                    outcome = work.work(s, job)
                    job_runs.lock_and_fence(s, job_id, attempt)
                    if work.again(s, job):
                        continue  # commits this run's writes, then runs once more
                    job_runs.finish(s, job, attempt, outcome)
                    follow_ups = work.follow_ups(s, job, outcome)
                    pipelines.recompute_related(s, {job_id})
                break
        except jobs.AttemptSuperseded as exc:
            log.warning("%s; its writes were rolled back", exc)
            return {"job_id": job_id, "skipped": True, "superseded": True}
        try:
            dispatch_jobs(follow_ups)
        except BrokerUnavailable:
            log.warning("follow-up jobs %s stay in the outbox for the reconciler", follow_ups)
        return {"job_id": job_id, "result": outcome.result, "dispatched": follow_ups,
                **outcome.summary}
