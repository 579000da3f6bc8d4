"""The reconciler's decisions (run every minute by Celery beat).

It heals what a crash can leave behind: committed jobs that never reached the broker,
queued messages lost with a broker restart, RUNNING jobs whose worker died, module-level
jobs whose types all finished without them, missing trailing aggregations, and pipeline
status that no terminal step got to write.

It never waits for a row another transaction holds (``SKIP LOCKED``): a row being aborted
or finished right now is left for the next round, so the reconciler can never be one side
of a deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType, PipelineStatus
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Pipeline
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.services.jobs.job_meta import InputsRead
from carbon_domain.services.recalc import inputs_read
from carbon_domain.services.recalc.recalc_finish import (
    close_module_job,
    lock_finish,
    settle_aggregation,
)
from carbon_domain.settings import get_settings

_DISPATCHABLE = (JobType.factor_ingest, JobType.csv_ingest, JobType.unit_sync,
                 JobType.reference_ingest, JobType.emission_recalc, JobType.aggregation,
                 JobType.factor_preview)
# Module-level jobs are dispatched with their per-type jobs (one plan message).
_OUTBOX = _DISPATCHABLE + (JobType.module_emission_recalc,)


def _locked(session: Session, *where: Any) -> list[Job]:
    return list(session.scalars(select(Job).where(*where).order_by(Job.id)
                                .with_for_update(skip_locked=True, key_share=True)))


@dataclass(frozen=True, slots=True)
class Repairs:
    """What one reconciler pass repaired, per step."""

    outbox: int  # committed, never dispatched
    lost: int  # queued, never claimed: back to NOT_STARTED
    retried: int  # stuck RUNNING, retried
    gave_up: int  # stuck RUNNING, attempts used up: ERROR


def reconcile(session: Session) -> tuple[Repairs, list[int]]:
    """Job-state repairs. Returns a summary and the job ids to (re)dispatch after commit.
    Module-level jobs and pipeline status are closed in :func:`close_orphans`, and the
    trailing aggregations settled apart in :func:`backfill_aggregation` (its own
    transaction: it follows the finish lock order)."""
    s = get_settings()
    now = utcnow()
    grace = now - timedelta(seconds=s.dispatch_grace_seconds)
    stale = now - timedelta(seconds=s.stale_job_seconds)
    outbox = undispatched(session, grace)
    lost = requeue_lost(session, stale)
    retried, gave_up = retry_or_give_up(session, stuck_jobs(session, stale))
    repairs = Repairs(outbox=len(outbox), lost=len(lost), retried=len(retried),
                      gave_up=len(gave_up))
    return repairs, sorted(set(outbox + lost + retried))


def undispatched(session: Session, grace: datetime) -> list[int]:
    """Step 1, the outbox: committed but never dispatched (or dispatch failed), module
    roots included."""
    return [j.id for j in _locked(session, Job.state == JobState.NOT_STARTED,
                                  Job.job_type.in_(_OUTBOX), Job.created_at <= grace)]


def requeue_lost(session: Session, stale: datetime) -> list[int]:
    """Step 2: queued long ago and never claimed, so the message was lost (e.g. a broker
    restart): back to NOT_STARTED, to be dispatched again."""
    lost = _locked(session, Job.state == JobState.QUEUED, Job.job_type.in_(_OUTBOX),
                   Job.dispatched_at <= stale)
    for job in lost:
        job.state = JobState.NOT_STARTED
        job.status_message = "Message lost; re-dispatched"
    return [j.id for j in lost]


def stuck_jobs(session: Session, stale: datetime) -> list[Job]:
    """Step 3: RUNNING without a heartbeat since ``stale`` (the worker died).

    Recalculations planned by one task share its chord: when one is stuck the chord is lost
    for all of them, so the siblings are re-planned together (one chord, one aggregation)
    rather than one by one as their heartbeats age."""
    stuck = _locked(session, Job.state == JobState.RUNNING, Job.job_type.in_(_DISPATCHABLE),
                    func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at) <= stale)
    plans = {j.celery_task_id for j in stuck
             if j.job_type == JobType.emission_recalc and j.celery_task_id}
    if plans:
        seen = {j.id for j in stuck}
        stuck += [j for j in _locked(session, Job.state == JobState.RUNNING,
                                     Job.job_type == JobType.emission_recalc,
                                     Job.celery_task_id.in_(plans)) if j.id not in seen]
    return stuck


def retry_or_give_up(session: Session, stuck: list[Job]) -> tuple[list[int], list[int]]:
    """A stuck job runs again (a new attempt; the old attempt's chunks become no-ops) while
    attempts remain; after that it is finished as ERROR. Returns (retried, gave up)."""
    retried, gave_up = [], []
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
    return retried, gave_up


def close_orphans(session: Session) -> dict[str, int]:
    """Module-level jobs whose types are all done (in any state: a root whose plan message
    was lost may never have started), then the status of every RUNNING pipeline. Rows
    another transaction holds are skipped this round."""
    closed = 0
    for root in _locked(session, Job.job_type == JobType.module_emission_recalc,
                        Job.state.in_(ACTIVE_STATES)):
        closed += close_module_job(session, root.id)
    running = sorted(session.scalars(select(Pipeline.id).where(
        Pipeline.status == PipelineStatus.RUNNING)), key=str)
    changed = 0
    for pid in running:
        status = pipelines.recompute_pipeline_status(session, pid, skip_locked=True)
        if status is not None and status != PipelineStatus.RUNNING:
            changed += 1
    return {"module_jobs_closed": closed, "pipelines_closed": changed}


#: Aggregations that may fail for a passing reason (aborted, a worker lost, out of transient
#: retries) are backfilled at most this many times after the last good recalculation of
#: their (module, year); then the module's "totals not updated" state waits for the
#: operator or the next input.
MAX_FAILED_AGGREGATIONS = 3


def due_aggregations(session: Session) -> set[tuple[int, int]]:
    """(module, year)s whose trailing aggregation is needed: a pipeline awaits it, or the
    statistics miss a good recalculation's rows (:func:`_unread_recalculation`: the last
    aggregation that wrote them did not read it). An aggregation that ended ERROR (aborted,
    or out of attempts) wrote no statistics, so it does not count: the module's totals
    would otherwise keep summing rows the recalculation has since rewritten. Those with a
    recalculation or an aggregation still active are not due: the last finisher requests
    it, and an active aggregation reads what has landed (or is marked dirty and runs again).

    Not "the last aggregation has a lower id than the last recalculation": a recalculation
    that finishes while an earlier aggregation is still queued or running joins it (one
    active per (module, year)), and that aggregation then reads its rows with its lower id
    (its run, or the rerun its dirty mark asks for); counting by ids backfilled a second,
    unneeded aggregation after every such join.

    Retries are bounded, never once a minute forever: after a deterministic failure (a
    unit's total that is not finite, ``meta.aggregation.failed``: the same rows fail again)
    the (module, year) is not due until an input changes (a good recalculation with a
    higher id than the failed aggregation, whose finish requests one anyway); after
    :data:`MAX_FAILED_AGGREGATIONS` other failures since the last good recalculation it
    is not due either. Meanwhile the module's state says its totals were not updated and
    why (services/reads/display_state.py ``decide_module``)."""
    recalcs = session.execute(
        select(Job.module_type_id, Job.year, func.max(Job.id))
        .where(Job.job_type == JobType.emission_recalc, Job.state == JobState.FINISHED,
               Job.result != JobResult.ERROR)
        .group_by(Job.module_type_id, Job.year)).all()
    out = set(pipelines.awaited_keys(session))
    for module, year, last_recalc in recalcs:
        if module is None or year is None:  # never: a recalculation has both
            continue
        if _unread_recalculation(session, int(module), int(year), int(last_recalc)) \
                and not _gave_up(session, int(module), int(year), int(last_recalc)):
            out.add((int(module), int(year)))
    active = set(session.execute(select(Job.module_type_id, Job.year).where(
        Job.job_type.in_((JobType.emission_recalc, JobType.aggregation)),
        Job.state.in_(ACTIVE_STATES))).all())
    return {k for k in out if k not in active}


def _unread_recalculation(session: Session, module: int, year: int, last_recalc: int
                          ) -> bool:
    """Whether a good recalculation of (module, year) landed rows that the last aggregation
    that wrote statistics did not read. Each run records what it reads before reading
    (``meta.aggregation.read``, services/recalc/aggregate.py ``recalculations_read``), as a
    recalculation's plan records its inputs: the good recalculations up to ``upto`` but the
    ``pending`` ones. An aggregation finished before that record existed is judged by ids
    as before: it read what has a lower id than itself."""
    agg = session.execute(select(Job.id, Job.meta).where(
        Job.job_type == JobType.aggregation, Job.module_type_id == module, Job.year == year,
        Job.state == JobState.FINISHED, Job.result != JobResult.ERROR)
        .order_by(Job.id.desc()).limit(1)).first()
    if agg is None:
        return True
    stored = ((agg.meta or {}).get("aggregation") or {}).get("read")
    if not isinstance(stored, dict):
        return int(agg.id) < last_recalc
    read = InputsRead.model_validate(stored)
    landed = set(session.scalars(select(Job.id).where(
        Job.id.in_(read.pending), Job.job_type == JobType.emission_recalc,
        Job.state == JobState.FINISHED, Job.result != JobResult.ERROR))) if read.pending else set()
    return inputs_read.unread(read, last_recalc, landed) is not None


def _gave_up(session: Session, module: int, year: int, last_recalc: int) -> bool:
    """The aggregations of (module, year) that failed since its last good recalculation
    include a deterministic failure, or :data:`MAX_FAILED_AGGREGATIONS` of them."""
    failed = session.execute(select(Job.meta["aggregation"]["failed"].as_string()).where(
        Job.job_type == JobType.aggregation, Job.module_type_id == module, Job.year == year,
        Job.state == JobState.FINISHED, Job.result == JobResult.ERROR, Job.id > last_recalc)
        .limit(MAX_FAILED_AGGREGATIONS)).scalars().all()
    return len(failed) >= MAX_FAILED_AGGREGATIONS or any(failed)


def backfill_aggregation(session: Session, module_type_id: int, year: int) -> int | None:
    """Settle one due (module, year) under the finish lock order. Returns a job to dispatch."""
    lock_finish(session, {(module_type_id, year)}, set())
    if (module_type_id, year) not in due_aggregations(session):
        return None  # settled meanwhile by a finisher
    last = session.scalar(select(Job.pipeline_id).where(
        Job.job_type == JobType.emission_recalc, Job.module_type_id == module_type_id,
        Job.year == year, Job.state == JobState.FINISHED, Job.result != JobResult.ERROR)
        .order_by(Job.id.desc()).limit(1))
    return settle_aggregation(session, module_type_id, year, pipeline_id=last,
                              contributed=True)
