"""Pipelines: the row that groups the jobs of one trigger, its status, joins and abort.

Lock order (every transaction that locks more than one of these takes them in this order,
so two of them can never wait on each other in a cycle):

    1. advisory locks (``locks.RECALC_FINISH`` per (module, year), ascending)
    2. pipeline rows, ascending id        (:func:`lock_pipelines`)
    3. job rows, ascending id

A chunk locks only its own job row (the commit fence; its foreign-key check takes FOR KEY
SHARE on the pipeline row, which our FOR NO KEY UPDATE locks do not block); an abort locks
its pipeline, then its active jobs in id order; a finishing recalculation, aggregation or
ingest locks the pipelines it will recompute before it touches a job row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, PipelineStatus
from carbon_domain.db.link_models import AwaitedAggregation, PipelineJobLink
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Pipeline
from carbon_domain.errors import NotFound

_RUNNING = Pipeline.status == PipelineStatus.RUNNING
# Row locks are FOR NO KEY UPDATE (``key_share=True``): we never change a key, and a plain
# FOR UPDATE conflicts with the FOR KEY SHARE that foreign-key checks take. A chunk that
# updates its job row twice in one transaction fires the jobs → pipelines key check on the
# second update; with FOR UPDATE on the pipeline that deadlocked against an abort.
NO_KEY = {"key_share": True}


def create_pipeline(session: Session, *, kind: str, module_type_id: int | None,
                    year: int | None, created_by: str | None) -> Pipeline:
    # The pipeline row first: job rows reference it (a shipped bug of the old system).
    p = Pipeline(id=uuid.uuid4(), kind=kind, status=PipelineStatus.RUNNING,
                 module_type_id=module_type_id, year=year, created_by=created_by,
                 started_at=utcnow(), meta={})
    session.add(p)
    session.flush()
    return p


def lock_pipelines(session: Session, ids: Iterable[uuid.UUID | None], *,
                   skip_locked: bool = False) -> list[uuid.UUID]:
    """Row-lock pipelines in ascending id order (step 2 of the lock order). Returns the ids
    locked (with ``skip_locked``, the ones another transaction holds are left out)."""
    wanted = sorted({i for i in ids if i is not None}, key=str)
    if not wanted:
        return []
    q = (select(Pipeline.id).where(Pipeline.id.in_(wanted)).order_by(Pipeline.id)
         .with_for_update(skip_locked=skip_locked, key_share=True))
    return list(session.scalars(q))


def related_pipelines(session: Session, job_ids: set[int]) -> set[uuid.UUID]:
    """The jobs' own pipelines plus every RUNNING pipeline that joined one of them."""
    own = {pid for pid in session.scalars(select(Job.pipeline_id).where(
        Job.id.in_(job_ids), Job.pipeline_id.is_not(None))) if pid is not None}
    return own | set(linking_pipelines(session, job_ids))


def lock_related(session: Session, job_ids: set[int]) -> None:
    """Lock, before any job row, every pipeline a change to these jobs will recompute."""
    lock_pipelines(session, related_pipelines(session, job_ids))


def link_pipeline(session: Session, pipeline_id: uuid.UUID, job_id: int) -> None:
    """The pipeline joined another pipeline's job (table pipeline_job_links). The pipeline
    row lock serializes the check and the insert, as it did the meta list before 0009."""
    p = session.get(Pipeline, pipeline_id, with_for_update=NO_KEY)
    if p is None or session.get(PipelineJobLink, (pipeline_id, job_id)) is not None:
        return
    session.add(PipelineJobLink(pipeline_id=pipeline_id, job_id=job_id))
    session.flush()


def await_aggregation(session: Session, pipeline_id: uuid.UUID, module_type_id: int,
                      year: int) -> None:
    """The pipeline's recalculation of (module, year) finished while another one of that
    (module, year) was still active: it stays RUNNING until the trailing aggregation (which
    the last recalculation to finish requests) is linked to it."""
    p = session.get(Pipeline, pipeline_id, with_for_update=NO_KEY)
    if p is None or p.status != PipelineStatus.RUNNING:
        return
    key = (pipeline_id, module_type_id, year)
    if session.get(AwaitedAggregation, key) is None:
        session.add(AwaitedAggregation(pipeline_id=pipeline_id, module_type_id=module_type_id,
                                       year=year))
        session.flush()


def awaiting_pipelines(session: Session, module_type_id: int, year: int) -> list[uuid.UUID]:
    rows = session.scalars(select(AwaitedAggregation.pipeline_id).join(Pipeline).where(
        _RUNNING, AwaitedAggregation.module_type_id == module_type_id,
        AwaitedAggregation.year == year))
    return sorted(rows, key=str)


def awaited_keys(session: Session) -> set[tuple[int, int]]:
    rows = session.execute(select(AwaitedAggregation.module_type_id, AwaitedAggregation.year)
                           .join(Pipeline).where(_RUNNING))
    return {(int(m), int(y)) for m, y in rows}


def resolve_awaiting(session: Session, module_type_id: int, year: int,
                     aggregation_job_id: int) -> list[uuid.UUID]:
    """Hand the awaiting pipelines of (module, year) the trailing aggregation's job."""
    pids = awaiting_pipelines(session, module_type_id, year)
    for pid in pids:
        link_pipeline(session, pid, aggregation_job_id)
    if pids:
        session.execute(delete(AwaitedAggregation).where(
            AwaitedAggregation.pipeline_id.in_(pids),
            AwaitedAggregation.module_type_id == module_type_id, AwaitedAggregation.year == year))
    return pids


def as_pipeline_id(pipeline_id: uuid.UUID | str) -> uuid.UUID:
    """Callers hold ids as UUIDs or as their text (an API answer, a command's argument);
    raises ValueError for text that is no UUID."""
    return pipeline_id if isinstance(pipeline_id, uuid.UUID) else uuid.UUID(str(pipeline_id))


def status_of(session: Session, pipeline_id: uuid.UUID | str) -> str | None:
    """The pipeline's status (None: no such pipeline), the column every view shows: one
    indexed read, for a waiter that needs nothing else (``carbon … --wait --json``)."""
    return session.scalar(select(Pipeline.status).where(
        Pipeline.id == as_pipeline_id(pipeline_id)))


def warning_count(session: Session, pipeline_id: uuid.UUID | str) -> int:
    """Jobs of the pipeline's own that finished WARNING (rows skipped, a column ignored, an
    entry failed): what makes a SUCCESS show as succeeded with warnings."""
    return int(session.scalar(select(func.count()).where(
        Job.pipeline_id == as_pipeline_id(pipeline_id), Job.state == JobState.FINISHED,
        Job.result == JobResult.WARNING)) or 0)


def pipeline_jobs(session: Session, pipeline_id: uuid.UUID) -> list[Job]:
    """The pipeline's own jobs plus the jobs of other pipelines it joined (and their
    reruns), oldest first."""
    key = as_pipeline_id(pipeline_id)
    return jobs_of_pipelines(session, [key])[key]


def jobs_of_pipelines(session: Session, pipeline_ids: Iterable[uuid.UUID], *,
                      load: Iterable[Any] = ()) -> dict[uuid.UUID, list[Job]]:
    """:func:`pipeline_jobs` of many pipelines in a few queries (a page, a stream poll):
    {pipeline id: own jobs by id, then the joined jobs and their reruns by id}. ``load``:
    loader options for the job rows (e.g. ``defer(Job.meta)`` for a listing)."""
    ids = list(dict.fromkeys(map(as_pipeline_id, pipeline_ids)))  # rows come back as UUIDs
    out: dict[uuid.UUID, list[Job]] = {pid: [] for pid in ids}
    if not ids:
        return out
    opts = list(load)
    for j in session.scalars(select(Job).options(*opts).where(Job.pipeline_id.in_(ids))
                             .order_by(Job.id)):
        out[j.pipeline_id].append(j)  # type: ignore[index]
    links: dict[uuid.UUID, list[int]] = {pid: [] for pid in ids}
    for pid, job_id in session.execute(select(PipelineJobLink.pipeline_id, PipelineJobLink.job_id)
                                       .where(PipelineJobLink.pipeline_id.in_(ids))
                                       .order_by(PipelineJobLink.job_id)):
        links[pid].append(int(job_id))
    rows = rerun_chains(session, {i for v in links.values() for i in v}, load=opts)
    for pid, linked in links.items():
        seen = {j.id for j in out[pid]}
        chain: list[Job] = []
        todo = list(linked)
        while todo:
            i = todo.pop()
            if i in seen or i not in rows:
                continue
            seen.add(i)
            chain.append(rows[i])
            if rows[i].rerun_job_id:
                todo.append(rows[i].rerun_job_id)  # type: ignore[arg-type]
        out[pid] += sorted(chain, key=lambda j: j.id)
    return out


def rerun_chains(session: Session, job_ids: Iterable[int], *, load: Iterable[Any] = ()
                 ) -> dict[int, Job]:
    """The jobs ``job_ids`` and their reruns down each chain (a rerun marked dirty runs
    again too), by id: one query per generation for the whole batch."""
    opts = list(load)
    rows: dict[int, Job] = {}
    wanted = set(job_ids)
    while wanted - rows.keys():
        batch = sorted(wanted - rows.keys())
        found = list(session.scalars(select(Job).options(*opts).where(Job.id.in_(batch))))
        rows.update((r.id, r) for r in found)
        wanted |= {r.rerun_job_id for r in found if r.rerun_job_id}
        if not found:
            break
    return rows


def last_run(chains: dict[int, Job], job_id: int) -> Job | None:
    """The last run of ``job_id``'s rerun chain, from :func:`rerun_chains`."""
    job = chains.get(job_id)
    while job is not None and job.rerun_job_id is not None and job.rerun_job_id in chains:
        job = chains[job.rerun_job_id]
    return job


def linking_pipelines(session: Session, job_ids: set[int]) -> list[uuid.UUID]:
    """RUNNING pipelines that joined any of these jobs (dedup hits from other triggers)."""
    if not job_ids:
        return []
    return list(session.scalars(select(PipelineJobLink.pipeline_id).join(Pipeline).where(
        _RUNNING, PipelineJobLink.job_id.in_(sorted(job_ids)))
        .group_by(PipelineJobLink.pipeline_id).order_by(PipelineJobLink.pipeline_id)))


def recompute_related(session: Session, job_ids: set[int]) -> None:
    """Recompute the status of the jobs' own pipelines and of every pipeline linked to them."""
    for pid in sorted(related_pipelines(session, job_ids), key=str):
        recompute_pipeline_status(session, pid)


def recompute_pipeline_status(session: Session, pipeline_id: uuid.UUID, *,
                              skip_locked: bool = False) -> str | None:
    """Status from the rows: RUNNING while any expected job is active (or a trailing
    aggregation is still awaited); FAILED if the root job erred; PARTIAL if the root's data
    landed but a later step erred; else SUCCESS. With ``skip_locked`` a pipeline another
    transaction holds is left alone (None): the holder recomputes it."""
    p = session.scalars(select(Pipeline).where(Pipeline.id == pipeline_id)
                        .with_for_update(skip_locked=skip_locked, key_share=True)
                        .execution_options(populate_existing=True)).first()
    if p is None:
        return None
    jobs = pipeline_jobs(session, pipeline_id)
    own = [j for j in jobs if j.pipeline_id == pipeline_id]
    errors = [j for j in own if j.result == JobResult.ERROR]
    p.job_count = len(own)
    p.error_count = len(errors)
    p.last_error = next((j.status_message for j in errors), None)
    p.updated_at = utcnow()
    if p.status == PipelineStatus.ABORTED:
        return p.status
    awaits = session.scalar(select(AwaitedAggregation.year).where(
        AwaitedAggregation.pipeline_id == pipeline_id).limit(1)) is not None
    if any(j.state in ACTIVE_STATES for j in jobs) or not own or awaits:
        p.status = PipelineStatus.RUNNING
        p.finished_at = None
        return p.status
    root = own[0]
    if root.result == JobResult.ERROR:
        p.status = PipelineStatus.FAILED
    elif errors:
        p.status = PipelineStatus.PARTIAL
    else:
        p.status = PipelineStatus.SUCCESS
    p.finished_at = max((j.finished_at for j in jobs if j.finished_at), default=utcnow())
    return p.status


def abort_pipeline(session: Session, pipeline_id: uuid.UUID, by: str | None
                   ) -> tuple[list[int], list[str]]:
    """Finish every active job of the pipeline as ERROR and return (job ids, task ids to
    revoke): the jobs' own tasks (an ingest, a plan, an aggregation), never a recalculation
    chunk. Chunks check their job's state first, so a queued chunk of an aborted job returns
    a "skipped" envelope and its chord ends as any other. A revoked chunk would end its chord
    with an error instead: Celery stores a revoked chord member as REVOKED, which its Redis
    result backend propagates (``_unpack_chord_result``), so ``on_chord_part_return`` logged
    ``Chord … raised: ChordError('Dependency … raised TaskRevokedError')`` at ERROR and called
    the chord's errback, which logged a failed recalculation, on every ordinary abort.

    Locks the pipeline row, then its active jobs in ascending id order (the global order):
    a running chunk holds at most its own job row, for the few milliseconds between its
    commit fence and its commit, so the abort waits for it and never deadlocks with it.
    The follow-up that touches other pipelines (closing module jobs that joined these jobs,
    the trailing aggregation) runs in its own transaction: ``recalc.after_abort``.
    """
    if not lock_pipelines(session, [pipeline_id]):
        raise NotFound(f"pipeline {pipeline_id} not found")
    p = session.get(Pipeline, pipeline_id)
    assert p is not None
    session.refresh(p)
    active = list(session.scalars(
        select(Job).where(Job.pipeline_id == pipeline_id, Job.state.in_(ACTIVE_STATES))
        .order_by(Job.id).with_for_update(key_share=True)
        .execution_options(populate_existing=True)))
    now = utcnow()
    task_ids: list[str] = []
    for job in active:
        job.state = JobState.FINISHED
        job.result = JobResult.ERROR
        job.status_message = f"Aborted by {by or 'operator'}"
        job.finished_at = now
        job.dirty = False
        job.meta = {**(job.meta or {}), "aborted": True, "aborted_by": by,
                    "aborted_at": now.isoformat()}
        if job.celery_task_id:
            task_ids.append(job.celery_task_id)
    if active or p.status == PipelineStatus.RUNNING:
        p.status = PipelineStatus.ABORTED
        p.finished_at = now
        session.execute(delete(AwaitedAggregation).where(
            AwaitedAggregation.pipeline_id == pipeline_id))
        p.meta = {**(p.meta or {}), "aborted_by": by}
    session.flush()
    # The counts from the rows, as every finish recounts them: the jobs just ended ERROR
    # (an ingest pipeline gets no other recount: after_abort follows recalculations only).
    recompute_pipeline_status(session, pipeline_id)
    return [j.id for j in active], task_ids
