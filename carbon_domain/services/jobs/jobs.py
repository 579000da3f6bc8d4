"""The job state machine: create before dispatch, dedup, atomic claim, fenced finish.

Every transition is one conditional UPDATE, so a redelivered or duplicated message can
never run a job twice at once or overwrite a newer attempt's result. Pipelines (grouping,
status, abort) live in ``services.pipelines``; their names are re-exported here.
"""

from __future__ import annotations

import operator
import uuid
from dataclasses import dataclass
from functools import reduce
from typing import Any, cast

from sqlalchemy import Table, and_, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import (
    ACTIVE_STATES,
    IngestionMethod,
    JobResult,
    JobState,
    JobType,
    TargetType,
)
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.json_types import JsonLike
from carbon_domain.services.jobs.job_meta import FACTOR_CHANGE_KEYS, updated
from carbon_domain.services.jobs.pipelines import NO_KEY, link_pipeline
from carbon_domain.settings import get_settings

# A job that finished and did not fail (SUCCESS or WARNING): what staleness and the recorded
# formula versions count as a good input or a good recalculation.
GOOD_FINISH = and_(Job.state == JobState.FINISHED,
                   func.coalesce(Job.result, "") != JobResult.ERROR)
#: An input job that changed an input: anything but a factor upload whose file matched the
#: live factors of its scope exactly (nothing inserted, updated, revived or retired). Such an
#: upload is no newer input for the staleness status, as a reference upload is none for a
#: year outside its ``affected_years``. An upload that did not record the counts (older
#: than them) counts as a change.
CHANGED_INPUT = or_(Job.job_type != JobType.factor_ingest, reduce(operator.add, [
    func.coalesce(Job.meta[k].as_integer(), 1) for k in FACTOR_CHANGE_KEYS]) > 0)


class ClaimBusy(Exception):
    """Another job of the same (module, type, target, method, year) is running right now."""


class AttemptSuperseded(Exception):
    """The attempt lost its job while it worked (re-planned by the reconciler, aborted or
    finished by another attempt): the caller must roll its writes back."""


def violates(exc: IntegrityError, index: str) -> bool:
    """Whether ``exc`` is a violation of the unique index ``index`` of the jobs table.
    PostgreSQL names the index; SQLite names its columns ("UNIQUE constraint failed:
    data_ingestion_jobs.module_type_id, …"), so a duplicate trigger on the embedded database
    is a dedup hit too, not an error."""
    message = str(exc.orig)
    if index in message:
        return True
    table = cast(Table, Job.__table__)
    found = [i for i in table.indexes if i.name == index]
    columns = ", ".join(f"{table.name}.{c.name}" for c in found[0].columns) if found else None
    return columns is not None and message == f"UNIQUE constraint failed: {columns}"


@dataclass(frozen=True)
class Request:
    job_id: int
    pipeline_id: uuid.UUID | None
    created: bool  # False: an active job already covered it (dedup hit)
    state: str


def create_job(session: Session, *, pipeline_id: uuid.UUID | None, job_type: JobType,
               target_type: TargetType, ingestion_method: IngestionMethod,
               module_type_id: int | None = None, data_entry_type_id: int | None = None,
               year: int | None = None, created_by: str | None = None,
               upload_id: int | None = None, config: JsonLike | None = None,
               message: str = "Waiting for a worker") -> Job:
    job = Job(
        pipeline_id=pipeline_id, job_type=job_type, target_type=target_type,
        ingestion_method=ingestion_method, module_type_id=module_type_id,
        data_entry_type_id=data_entry_type_id, year=year, created_by=created_by,
        upload_id=upload_id, meta={"config": config or {}}, state=JobState.NOT_STARTED,
        status_message=message, max_attempts=get_settings().job_max_attempts,
    )
    session.add(job)
    session.flush()
    return job


def _dedup_insert(session: Session, make: Any, find_active: Any, link_to: uuid.UUID | None,
                  input_job_id: int | None = None, *, rerun_if_running: bool = True
                  ) -> Request:
    """Insert under a partial unique index; a hit returns the active job (never an error).

    With ``rerun_if_running``, a hit on a RUNNING job marks it dirty: it has already read
    its inputs, so it must run once more after it finishes or this request's update would
    be lost. Without it (a request that brings no new input, e.g. an operator's trigger), a
    hit is a plain no-op.
    """
    try:
        with session.begin_nested():
            job = make()
        return Request(job.id, job.pipeline_id, True, job.state)
    except IntegrityError as exc:
        if not (violates(exc, "uq_emission_recalc_active")
                or violates(exc, "uq_aggregation_active")):
            raise
    active = session.scalars(find_active().with_for_update(key_share=True)).first()
    if active is None:  # it finished between our insert and this read: try once more
        return _dedup_insert(session, make, find_active, link_to, input_job_id,
                             rerun_if_running=rerun_if_running)
    if active.state == JobState.RUNNING and rerun_if_running:
        active.dirty = True
    elif input_job_id is not None:
        # Not started yet, so it will read this input: staleness must count it as covered
        # even though the input job's id is higher than this job's.
        active.covers_input_job_id = max(active.covers_input_job_id or 0, input_job_id)
    if link_to is not None and active.pipeline_id != link_to:
        link_pipeline(session, link_to, active.id)
    session.flush()
    return Request(active.id, active.pipeline_id, False, active.state)


def request_recalc(session: Session, *, pipeline_id: uuid.UUID | None, module_type_id: int,
                   data_entry_type_id: int, year: int, created_by: str | None,
                   config: JsonLike | None = None,
                   input_job_id: int | None = None
                   ) -> Request:
    def make() -> Job:
        return create_job(
            session, pipeline_id=pipeline_id, job_type=JobType.emission_recalc,
            target_type=TargetType.DATA_ENTRIES, ingestion_method=IngestionMethod.computed,
            module_type_id=module_type_id, data_entry_type_id=data_entry_type_id, year=year,
            created_by=created_by, config=config)

    def find() -> Any:
        return select(Job).where(
            Job.job_type == JobType.emission_recalc, Job.module_type_id == module_type_id,
            Job.data_entry_type_id == data_entry_type_id, Job.year == year,
            Job.state.in_(ACTIVE_STATES))
    # Only a request that brings new input (an upload) makes a running recalculation run
    # once more; a duplicate trigger is a no-op, never a second run (docs/design.md §4).
    return _dedup_insert(session, make, find, pipeline_id, input_job_id,
                         rerun_if_running=input_job_id is not None)


def request_aggregation(session: Session, *, pipeline_id: uuid.UUID | None,
                        module_type_id: int, year: int, created_by: str | None) -> Request:
    def make() -> Job:
        return create_job(
            session, pipeline_id=pipeline_id, job_type=JobType.aggregation,
            target_type=TargetType.STATISTICS, ingestion_method=IngestionMethod.computed,
            module_type_id=module_type_id, year=year, created_by=created_by)

    def find() -> Any:
        return select(Job).where(
            Job.job_type == JobType.aggregation, Job.module_type_id == module_type_id,
            Job.year == year, Job.state.in_(ACTIVE_STATES))
    return _dedup_insert(session, make, find, pipeline_id)


def mark_dispatched(session: Session, job_id: int, task_id: str) -> None:
    session.execute(
        update(Job).where(Job.id == job_id, Job.state == JobState.NOT_STARTED)
        .values(state=JobState.QUEUED, dispatched_at=utcnow(), celery_task_id=task_id,
                status_message="Queued")
    )


def mark_dispatch_failed(session: Session, job_id: int, reason: str) -> None:
    session.execute(
        update(Job).where(Job.id == job_id, Job.state == JobState.NOT_STARTED)
        .values(status_message=f"Not dispatched yet (broker unreachable: {reason}); "
                               "the reconciler retries it")
    )


def claim(session: Session, job_id: int, task_id: str | None) -> int | None:
    """Take a job: RUNNING and is_current in one statement. Returns the attempt number,
    or None when it is not claimable (finished, aborted, or held by another live task).

    A redelivered message (same task id) may re-take its own RUNNING job: its previous
    holder died. Raises ClaimBusy while another job of the same combo runs.
    """
    job = session.get(Job, job_id)
    if job is None:
        return None
    same_combo = and_(
        Job.id != job_id,
        Job.module_type_id.is_not_distinct_from(job.module_type_id),
        Job.data_entry_type_id.is_not_distinct_from(job.data_entry_type_id),
        Job.target_type == job.target_type,
        Job.ingestion_method == job.ingestion_method,
        Job.year.is_not_distinct_from(job.year),
    )
    now = utcnow()
    try:
        with session.begin_nested():
            session.execute(update(Job).where(
                same_combo, Job.is_current.is_(True), Job.state != JobState.RUNNING
            ).values(is_current=False))
            claimable = or_(
                Job.state.in_((JobState.NOT_STARTED, JobState.QUEUED)),
                and_(Job.state == JobState.RUNNING, Job.celery_task_id == task_id)
                if task_id else false(),
            )
            res = session.execute(
                update(Job).where(Job.id == job_id, Job.attempts < Job.max_attempts, claimable)
                .values(state=JobState.RUNNING, is_current=True, attempts=Job.attempts + 1,
                        started_at=Job.started_at if job.started_at else now,
                        heartbeat_at=now, celery_task_id=task_id, status_message="Running")
                .returning(Job.attempts)
            ).scalar()
    except IntegrityError as exc:
        if violates(exc, "uq_jobs_is_current"):
            raise ClaimBusy(f"job {job_id}: another job of the same scope is running") from exc
        raise
    session.expire(job)
    return int(res) if res is not None else None


def heartbeat(session: Session, job_id: int, *, message: str | None = None,
              done: int | None = None, total: int | None = None) -> None:
    values: dict[str, object] = {"heartbeat_at": utcnow()}
    if message is not None:
        values["status_message"] = message
    if done is not None:
        values["progress_done"] = done
    if total is not None:
        values["progress_total"] = total
    session.execute(update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING)
                    .values(**values))


def fence(session: Session, job_id: int, attempt: int) -> bool:
    """Check, under a row lock held until commit, that ``attempt`` still owns the job.

    False when a re-plan (reconciler), an abort or a finish got there first: the caller
    must roll back. True locks the job row, so whoever changes the job next waits for the
    caller's commit (and a newer attempt rewrites after it): work of a superseded attempt
    never commits on top of the new owner's.
    """
    res = session.execute(
        update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING,
                          Job.attempts == attempt)
        .values(heartbeat_at=utcnow()).returning(Job.id)
    ).scalar()
    return res is not None


def still_running(session: Session, job_ids: list[int]) -> list[int]:
    """The jobs of ``job_ids`` still RUNNING, locked as an abort locks them (NO KEY): an
    abort either finished them already or waits for the caller's commit."""
    return list(session.scalars(
        select(Job.id).where(Job.id.in_(sorted(set(job_ids))), Job.state == JobState.RUNNING)
        .order_by(Job.id).with_for_update(key_share=True)))


def finish(session: Session, job_id: int, attempt: int | None, result: JobResult,
           message: str, meta: JsonLike | None = None) -> bool:
    """Close a job, only if this attempt still owns it (a stale redelivery cannot
    overwrite a newer result). A result other than SUCCESS never says "Success"."""
    job = session.get(Job, job_id, with_for_update=NO_KEY, populate_existing=True)
    if job is None or job.state != JobState.RUNNING:
        return False
    if attempt is not None and job.attempts != attempt:
        return False
    if result != JobResult.SUCCESS and message.lower().startswith("success"):
        message = f"{result.value}: {message}"
    merged = dict(job.meta or {})
    merged.update(meta or {})
    merged["progress"] = {"done": job.progress_done, "total": job.progress_total}
    job.meta = merged
    job.state = JobState.FINISHED
    job.result = result
    job.status_message = message[:2000]
    job.finished_at = utcnow()
    job.heartbeat_at = job.finished_at
    session.flush()
    return True


def set_meta(session: Session, job_id: int, **items: Any) -> None:
    job = session.get(Job, job_id, with_for_update=NO_KEY)
    if job is not None:
        job.meta = updated(job.meta, **items)


def start_group(session: Session, job_id: int, task_id: str | None) -> bool:
    """Start a grouping job (a module-level recalculation): RUNNING, no ``is_current``.

    It does no work of its own (its per-type jobs do, each with its own claim), so it takes
    no per-combo run slot: a second module trigger of the same (module, year) starts next
    to the first one and joins its running types instead of waiting on a slot until the
    plan task's retries run out (which left it QUEUED until the 30-minute sweep)."""
    now = utcnow()
    res = session.execute(
        update(Job).where(Job.id == job_id,
                          Job.state.in_((JobState.NOT_STARTED, JobState.QUEUED)))
        .values(state=JobState.RUNNING, attempts=Job.attempts + 1, started_at=now,
                heartbeat_at=now, celery_task_id=task_id, status_message="Running"))
    return bool(res.rowcount)  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult


def close_group(session: Session, job_id: int, result: JobResult, message: str,
                meta: JsonLike | None = None) -> bool:
    """Finish a grouping job from any active state: its per-type jobs may all have run
    (e.g. re-dispatched by the reconciler) before it was ever started."""
    job = session.get(Job, job_id, with_for_update=NO_KEY)
    if job is None or job.state not in ACTIVE_STATES:
        return False
    job.state = JobState.RUNNING
    job.started_at = job.started_at or utcnow()
    return finish(session, job_id, None, result, message, meta)
