"""The reconciler's decisions (run every minute by Celery beat).

It heals what a crash can leave behind: committed jobs that never reached the broker,
queued messages lost with a broker restart, RUNNING jobs whose worker died, missing
aggregations, and pipeline status that no terminal step got to write.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType, PipelineStatus
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Pipeline
from carbon_domain.services import jobs
from carbon_domain.settings import get_settings

_DISPATCHABLE = (JobType.factor_ingest, JobType.csv_ingest, JobType.unit_sync,
                 JobType.reference_ingest, JobType.emission_recalc, JobType.aggregation)


def reconcile(session: Session) -> tuple[dict[str, Any], list[int]]:
    """Returns a summary and the job ids to (re)dispatch after commit."""
    s = get_settings()
    now = utcnow()
    grace = now - timedelta(seconds=s.dispatch_grace_seconds)
    stale = now - timedelta(seconds=s.stale_job_seconds)
    summary: dict[str, Any] = {}

    # 1. Outbox: committed but never dispatched (or dispatch failed).
    outbox = list(session.scalars(select(Job.id).where(
        Job.state == JobState.NOT_STARTED, Job.job_type.in_(_DISPATCHABLE),
        Job.created_at <= grace)))
    # 2. Queued long ago and never claimed: the message was lost (e.g. broker restart).
    lost = list(session.scalars(select(Job.id).where(
        Job.state == JobState.QUEUED, Job.job_type.in_(_DISPATCHABLE),
        Job.dispatched_at <= stale)))
    if lost:
        session.execute(update(Job).where(Job.id.in_(lost)).values(
            state=JobState.NOT_STARTED, status_message="Message lost; re-dispatched"))
    # Module-level roots ride along with their per-type jobs.
    roots = list(session.scalars(select(Job.id).where(
        Job.job_type == JobType.module_emission_recalc,
        Job.state.in_((JobState.NOT_STARTED, JobState.QUEUED)), Job.created_at <= grace)))
    if roots:
        session.execute(update(Job).where(Job.id.in_(roots)).values(state=JobState.NOT_STARTED))
    # 3. RUNNING without a heartbeat: the worker died. Retry while attempts remain.
    retried, gave_up = [], []
    stuck = list(session.scalars(select(Job).where(
        Job.state == JobState.RUNNING, Job.job_type.in_(_DISPATCHABLE),
        func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at) <= stale)))
    # Recalculations planned by one task share its chord: when one is stuck the chord is
    # lost for all of them, so re-plan the siblings together (one chord, one aggregation)
    # rather than one by one as their heartbeats age.
    plans = {j.celery_task_id for j in stuck
             if j.job_type == JobType.emission_recalc and j.celery_task_id}
    if plans:
        seen = {j.id for j in stuck}
        stuck += [j for j in session.scalars(select(Job).where(
            Job.state == JobState.RUNNING, Job.job_type == JobType.emission_recalc,
            Job.celery_task_id.in_(plans))) if j.id not in seen]
    for job in stuck:
        if job.attempts < job.max_attempts:
            job.state = JobState.NOT_STARTED
            since = job.heartbeat_at or job.started_at or job.created_at
            job.status_message = (f"No progress since {since:%H:%M:%S} UTC;"
                                  f" retrying (attempt {job.attempts + 1}/{job.max_attempts})")
            retried.append(job.id)
        else:
            jobs.finish(session, job.id, None, JobResult.ERROR,
                        f"ERROR: gave up after {job.attempts} attempts with no progress")
            job.is_current = False
            gave_up.append(job.id)
    # 4. Backfill: a finished recalculation with no aggregation after it.
    backfilled = _backfill_aggregations(session)
    # 5. Module roots whose types are all done, then pipeline status from the rows.
    from carbon_domain.services.recalc import close_module_job
    for root_id in session.scalars(select(Job.id).where(
            Job.job_type == JobType.module_emission_recalc, Job.state == JobState.RUNNING)):
        close_module_job(session, root_id)
    running = list(session.scalars(select(Pipeline.id).where(
        Pipeline.status == PipelineStatus.RUNNING)))
    changed = 0
    for pid in running:
        if jobs.recompute_pipeline_status(session, pid) != PipelineStatus.RUNNING:
            changed += 1
    summary.update(outbox=len(outbox), lost=len(lost), retried=len(retried),
                   gave_up=len(gave_up), aggregations_backfilled=len(backfilled),
                   pipelines_closed=changed)
    return summary, sorted(set(outbox + lost + retried + backfilled))


def _backfill_aggregations(session: Session) -> list[int]:
    """A (module, year) whose latest successful recalculation has a higher id than its
    latest aggregation, with none active, missed its aggregation (ids order jobs in time;
    an aggregation requested by a recalculation always gets a higher id than it)."""
    recalcs = session.execute(
        select(Job.module_type_id, Job.year, func.max(Job.id))
        .where(Job.job_type == JobType.emission_recalc, Job.state == JobState.FINISHED,
               Job.result != JobResult.ERROR)
        .group_by(Job.module_type_id, Job.year)).all()
    out: list[int] = []
    for module, year, last_recalc in recalcs:
        last_agg, active = session.execute(
            select(func.max(Job.id), func.count().filter(Job.state.in_(ACTIVE_STATES)))
            .where(Job.job_type == JobType.aggregation, Job.module_type_id == module,
                   Job.year == year)).one()
        if active or (last_agg is not None and last_agg > last_recalc):
            continue
        pid = session.scalar(select(Job.pipeline_id).where(Job.id == last_recalc))
        req = jobs.request_aggregation(session, pipeline_id=pid, module_type_id=module,
                                       year=year, created_by="reconciler")
        if req.created:
            out.append(req.job_id)
    return out
