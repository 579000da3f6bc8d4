"""What one run of a single-task job (an ingest, an aggregation) does, as the task runner
(``carbon_tasks.base.JobTask``) drives it:

    claim ─► prepare (own transaction) ─► work ─► lock pipelines, fence the job row
          ─► again? (rerun: commit, back to prepare) ─► fenced finish ─► follow-up jobs
          ─► pipeline status ─► commit ─► dispatch the follow-ups through the outbox

Work, finish and follow-ups commit in one transaction, so a superseded attempt can neither
finish the job nor keep its writes. A ``JobWork`` never opens a session or talks to Celery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from carbon_domain.db.enums import JobResult, JobState
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.services.jobs import facility_followers, jobs, pipelines
from carbon_domain.services.jobs.ingest_report import IngestOutcome


@dataclass
class JobOutcome:
    result: JobResult
    message: str
    meta: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)  # the task's return value
    recalc_dets: list[int] = field(default_factory=list)


class JobWork(Protocol):
    def prepare(self, session: Session, job_id: int) -> None:
        """Before each run, in its own committed transaction (a heartbeat, clearing dirty)."""

    def work(self, session: Session, job: Job) -> JobOutcome:
        """The job's writes; the runner then locks and fences the job in this transaction."""

    def again(self, session: Session, job: Job) -> bool:
        """Asked under the job's row lock: commit this run's writes and run once more?"""

    def follow_ups(self, session: Session, job: Job, outcome: JobOutcome) -> list[int]:
        """Create the jobs this one starts (same transaction); returns the ids to dispatch."""


def finish(session: Session, job: Job, attempt: int, outcome: JobOutcome) -> None:
    """The fenced finish: only the attempt that still owns the job closes it."""
    if not jobs.finish(session, job.id, attempt, outcome.result, outcome.message, outcome.meta):
        raise jobs.AttemptSuperseded(f"job {job.id}: attempt {attempt} was superseded")


def lock_and_fence(session: Session, job_id: int, attempt: int) -> None:
    """Lock order: the pipelines the finish recomputes, then the job row (held to commit)."""
    pipelines.lock_related(session, {job_id})
    if not jobs.fence(session, job_id, attempt):
        raise jobs.AttemptSuperseded(f"job {job_id}: attempt {attempt} was superseded")


def close_out_of_attempts(session: Session, job_id: int, task_id: str | None) -> bool:
    """A job this task's message still holds (RUNNING, the same task id) whose attempts are
    used up: every delivery failed (the task's transient-error retries outnumber the job's
    attempts), so no claim will ever run it again. Finished as ERROR now, its pipelines
    recomputed; before, it stayed RUNNING until the reconciler found it stale, and where
    none runs (``carbon demo``) its pipeline waited for good. True if it was closed."""
    pipelines.lock_related(session, {job_id})  # lock order: pipelines, then the job row
    job = session.get(Job, job_id, with_for_update=pipelines.NO_KEY, populate_existing=True)
    if (job is None or job.state != JobState.RUNNING or task_id is None
            or job.celery_task_id != task_id or job.attempts < job.max_attempts):
        return False
    jobs.finish(session, job_id, None, JobResult.ERROR,
                f"ERROR: failed on each of its {job.attempts} attempts (the worker log has"
                " each error); run it again once the cause is fixed")
    pipelines.recompute_related(session, {job_id})
    return True


class IngestWork:
    """One ingest service over the job's stored upload; data entry uploads (and factor
    uploads with ``recalculate``) request the recalculation of the types they changed."""

    def __init__(self, fn: Callable[[Session, Job], IngestOutcome]) -> None:
        self.fn = fn

    def prepare(self, session: Session, job_id: int) -> None:
        # Its own transaction: the data transaction must not hold the job row while it
        # works (an abort would wait for the whole ingest, then deadlock with the pipeline
        # lock the finish takes). The row is locked only at the end.
        jobs.heartbeat(session, job_id, message="Parsing and validating rows")

    def work(self, session: Session, job: Job) -> JobOutcome:
        out = self.fn(session, job)
        return JobOutcome(out.result, out.message, out.meta,
                          {"pipeline_id": str(job.pipeline_id) if job.pipeline_id else None},
                          list(out.recalc_dets))

    def again(self, session: Session, job: Job) -> bool:
        return False

    def follow_ups(self, session: Session, job: Job, outcome: JobOutcome) -> list[int]:
        created = []
        for det in outcome.recalc_dets:
            assert job.module_type_id is not None and job.year is not None
            req = jobs.request_recalc(
                session, pipeline_id=job.pipeline_id, module_type_id=job.module_type_id,
                data_entry_type_id=det, year=job.year, created_by=job.created_by,
                input_job_id=job.id)
            if req.created:
                created.append(req.job_id)
        if outcome.recalc_dets:  # the facility factors read the rows just rewritten
            assert job.year is not None
            created += [r.job_id for r in facility_followers.request_followers(
                session, pipeline_id=job.pipeline_id, dets=outcome.recalc_dets, year=job.year,
                created_by=job.created_by, input_job_id=job.id) if r.created]
        return created
