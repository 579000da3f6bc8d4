"""Closing recalculations: per-type jobs from their chunk rows, the module-level job once
its types are done, and the one trailing aggregation per (module, year).

**One trailing aggregation** (docs/design.md §4). Finishers of one (module, year) are serialised by
an advisory lock; while another recalculation of that (module, year) is still active (in
this pipeline or any other), a finisher does not request an aggregation: its pipeline
*awaits* the trailing one instead. The last finisher requests it and links every awaiting
pipeline to it, so five type triggers of one module give one aggregation, not five.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain.catalog import DataEntryType, types_phrase
from carbon_domain.db import locks
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import RecalcChunk
from carbon_domain.formula_versions import formula_version
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.services.jobs.job_links import module_jobs
from carbon_domain.services.jobs.job_meta import job_config
from carbon_domain.services.recalc import unmatched

MAX_ERROR_DETAILS = 100


@dataclass(frozen=True)
class FinishOutcome:
    job_id: int
    result: JobResult
    module_type_id: int
    year: int
    pipeline_id: Any
    rerun_job_id: int | None


def finish_job(session: Session, job_id: int, attempt: int, *, lost: bool = False
               ) -> FinishOutcome | None:
    """Close a recalculation from its chunk rows (the expected fan-out, not a snapshot)."""
    job = session.get(Job, job_id)
    if job is None or job.state != JobState.RUNNING or job.attempts != attempt:
        return None
    # A recalculation job always names its (module, type, year).
    assert job.module_type_id is not None and job.data_entry_type_id is not None
    assert job.year is not None
    # The counts only: loading whole rows decoded every chunk's entry ids and partial sums
    # (JSON; an it factor at 1M: 13,015 ids and ~2,000 sum cells) on the critical path
    # between the last chunk and the aggregation.
    chunks = session.execute(select(
        RecalcChunk.done, RecalcChunk.entries, RecalcChunk.rows, RecalcChunk.missing,
        RecalcChunk.errors, RecalcChunk.error_details).where(RecalcChunk.job_id == job_id)).all()
    undone = [c for c in chunks if not c.done]
    entries = sum(c.entries for c in chunks)
    rows = sum(c.rows for c in chunks)
    missing = sum(c.missing for c in chunks)
    errors = sum(c.errors for c in chunks)
    # A chunk's details hold its first 20 errors with their reason, then ids alone.
    stored = [d for c in chunks for d in (c.error_details or [])]
    details = [d for d in stored if "reason" in d][:MAX_ERROR_DETAILS]
    error_ids = [int(d["entry_id"]) for d in stored] if len(stored) == errors else None
    name = DataEntryType(job.data_entry_type_id).name
    if undone:
        result = JobResult.ERROR
        msg = (f"ERROR: {len(undone)} of {len(chunks)} chunks of {name} did not complete"
               f" (worker lost or retries exhausted); the type stays stale")
    elif lost:
        # The chord's error path with every chunk done (a result it could not collect): it
        # said "0 of 2 chunks … did not complete", which reads as nothing wrong.
        result = JobResult.ERROR
        msg = (f"ERROR: all {len(chunks)} chunks of {name} completed, but the chord"
               " collecting them failed (worker lost or a chunk's result not stored);"
               " the type stays stale")
    else:
        result = JobResult.WARNING if errors else JobResult.SUCCESS
        msg = (f"Recalculated {entries} {name} entries: {rows} emission rows,"
               f" {missing} without a matching factor, {errors} errors")
        if errors:
            first = details[0]
            msg = f"WARNING: {msg}; first error: entry {first['entry_id']}: {first['reason']}"
    meta = {"recalculation": {"entries": entries, "rows": rows, "missing_factors": missing,
                              "errors": errors, "error_details": details,
                              "chunks": len(chunks), "undone_chunks": len(undone),
                              # What its rows were computed with: the status compares it
                              # with the code's version of the type.
                              "formula_version": formula_version(job.data_entry_type_id)}}
    config = job_config(job.meta)
    if result != JobResult.ERROR:
        # The slice's entries without a matching factor and those that could not be
        # computed, for the status (an incremental run counted only the entries it rewrote).
        meta["recalculation"].update(unmatched.slice_figures(
            session, job_id, config, entries, missing, errors, error_ids))
    dirty = job.dirty
    job.dirty = False
    stage = config.stage
    if not jobs.finish(session, job_id, attempt, result, msg, meta):
        return None
    if stage is not None:
        # In the transaction that closes the job: readers see the old slice until it
        # commits, the new one after, never a mix. A job that did not complete keeps the
        # old slice (it stays stale) and its stage goes.
        if result == JobResult.ERROR:
            dialect_of(session).drop_stage(session, stage)
        else:
            dialect_of(session).swap_stage(session, stage, job.data_entry_type_id, job.year)
    rerun = None
    if dirty and not lost:
        # A request arrived while this job read its inputs: run once more so it is not lost.
        req = jobs.request_recalc(
            session, pipeline_id=job.pipeline_id, module_type_id=job.module_type_id,
            data_entry_type_id=job.data_entry_type_id, year=job.year,
            created_by=job.created_by, config={"rerun_of": job_id})
        rerun = req.job_id
        job.rerun_job_id = rerun
        # Triggers that joined this job wait for its rerun too.
        for pid in pipelines.linking_pipelines(session, {job_id}):
            pipelines.link_pipeline(session, pid, rerun)
    return FinishOutcome(job_id, result, job.module_type_id, job.year, job.pipeline_id, rerun)


def _recalc_active(session: Session, module_type_id: int, year: int) -> bool:
    return session.scalar(select(Job.id).where(
        Job.job_type == JobType.emission_recalc, Job.module_type_id == module_type_id,
        Job.year == year, Job.state.in_(ACTIVE_STATES)).limit(1)) is not None


def _active_roots(session: Session, keys: set[tuple[int, int]]) -> list[Job]:
    if not keys:
        return []
    rows = session.scalars(select(Job).where(
        Job.job_type == JobType.module_emission_recalc, Job.state.in_(ACTIVE_STATES),
        Job.module_type_id.in_({m for m, _ in keys})).order_by(Job.id))
    return [r for r in rows if (r.module_type_id, r.year) in keys]


def lock_finish(session: Session, keys: set[tuple[int, int]], job_ids: set[int]) -> None:
    """Steps 1 and 2 of the lock order for a transaction that closes recalculations of
    ``keys``: the per-(module, year) finish locks, then every pipeline it may recompute or
    link (own, joined, awaiting, and those of the module-level jobs it may close)."""
    for m, y in sorted(keys):
        locks.xact_lock(session, locks.RECALC_FINISH, locks.module_year_key(m, y))
    pids = pipelines.related_pipelines(session, job_ids) if job_ids else set()
    for m, y in keys:
        pids.update(pipelines.awaiting_pipelines(session, m, y))
    pids.update(r.pipeline_id for r in _active_roots(session, keys) if r.pipeline_id is not None)
    pipelines.lock_pipelines(session, pids)


def _lock_swapped_types(session: Session, job_ids: set[int]) -> None:
    """Step 3 when the jobs swap stages in: lock every type whose slice is swapped, in
    type order, before the first swap. A reader of the emission rows locks the types'
    partitions in that order (their partition bounds); swapping job by job would take them
    in job order and could deadlock with a reader holding a later type."""
    dets = sorted({int(d) for d, meta in session.execute(
        select(Job.data_entry_type_id, Job.meta).where(Job.id.in_(job_ids)))
        if d is not None and job_config(meta).stage is not None})
    dialect_of(session).lock_types_for_swap(session, dets)


def settle_aggregation(session: Session, module_type_id: int, year: int, *,
                       pipeline_id: Any = None, contributed: bool = False) -> int | None:
    """Request the trailing aggregation of (module, year) if it is due: no recalculation of
    it is active any more and either this caller's recalculation landed data
    (``contributed``) or some pipeline awaits it. Links the awaiting pipelines to it.
    Returns the job id to dispatch (None: not due, or an active one absorbed it)."""
    if _recalc_active(session, module_type_id, year):
        return None
    awaiting = pipelines.awaiting_pipelines(session, module_type_id, year)
    if not contributed and not awaiting:
        return None
    if pipeline_id is None and awaiting:
        pipeline_id = awaiting[0]
    req = jobs.request_aggregation(session, pipeline_id=pipeline_id,
                                   module_type_id=module_type_id, year=year,
                                   created_by="pipeline")
    pipelines.resolve_awaiting(session, module_type_id, year, req.job_id)
    return req.job_id if req.created else None


def complete_recalculation(session: Session, finished: list[tuple[int, int]],
                           root_job_id: int | None = None, *, lost: bool = False) -> list[int]:
    """Close the per-type jobs of a chord, request the trailing aggregation of each (module,
    year) if no other recalculation of it is still active, close module-level jobs whose
    types are all done. Returns job ids to dispatch."""
    ids = {j for j, _ in finished}
    keys = {(int(m), int(y)) for m, y in session.execute(
        select(Job.module_type_id, Job.year).where(Job.id.in_(ids)))
        if m is not None and y is not None}
    lock_finish(session, keys, ids)
    if not lost:
        _lock_swapped_types(session, ids)
    to_dispatch: list[int] = []
    outcomes = [o for o in (finish_job(session, j, a, lost=lost) for j, a in sorted(finished))
                if o]
    to_dispatch += [o.rerun_job_id for o in outcomes if o.rerun_job_id]
    for m, y in sorted(keys):
        # A WARNING still aggregates: its good entries changed (the old system skipped it).
        landed = [o for o in outcomes if (o.module_type_id, o.year) == (m, y)
                  and o.result != JobResult.ERROR]
        if _recalc_active(session, m, y):
            for pid in sorted(pipelines.related_pipelines(session, {o.job_id for o in landed}),
                              key=str):
                pipelines.await_aggregation(session, pid, m, y)
            continue
        agg = settle_aggregation(session, m, y, contributed=bool(landed),
                                 pipeline_id=landed[0].pipeline_id if landed else None)
        if agg is not None:
            to_dispatch.append(agg)
    closed = close_module_jobs(session, keys)
    pipelines.recompute_related(session, {o.job_id for o in outcomes} | set(closed))
    return to_dispatch


def close_module_jobs(session: Session, keys: set[tuple[int, int]]) -> list[int]:
    """Close every active module-level job of these (module, year)s whose types are done."""
    return [r.id for r in _active_roots(session, keys) if close_module_job(session, r.id)]


def close_module_job(session: Session, root_job_id: int) -> bool:
    """Finish a module-level recalculation once every per-type job it started or joined is
    done, whatever state it is in itself (it may never have been started: its types can be
    re-dispatched without it after a lost message)."""
    root = session.get(Job, root_job_id)
    if root is None or root.state not in ACTIVE_STATES:
        return False
    # Each type's runs: the job this module job started or joined, then its reruns (an
    # upload arrived while it ran), to the end of the chain — a rerun can be marked dirty
    # and run again too. A type is done when its last run is, and that run's result is the
    # type's: it read every input the runs before it missed.
    asked = module_jobs(session, [root_job_id])[root_job_id].all
    chains = pipelines.rerun_chains(session, asked)
    last = {j.id: j for i in asked if (j := pipelines.last_run(chains, i)) is not None}
    children = sorted(last.values(), key=lambda j: j.id)
    if any(c.state != JobState.FINISHED for c in children):
        return False
    results = [c.result for c in children]
    types = types_phrase(len(children))
    if children and all(r == JobResult.ERROR for r in results):
        result, msg = JobResult.ERROR, f"ERROR: {'all ' * (len(children) > 1)}{types} failed"
    elif any(r != JobResult.SUCCESS for r in results):
        bad = sum(r != JobResult.SUCCESS for r in results)
        result, msg = JobResult.WARNING, f"WARNING: recalculated {types}, {bad} with errors"
    else:
        result, msg = JobResult.SUCCESS, f"Recalculated {types}"
    # The progress the chunks mirrored is best effort (a chunk that finds the row locked
    # skips it): the closing figure is the types' own.
    root.progress_done = sum(c.progress_done or 0 for c in children)
    root.progress_total = sum(c.progress_total or 0 for c in children)
    return jobs.close_group(session, root_job_id, result, msg,
                            {"children": {str(c.id): c.result for c in children}})


def after_abort(session: Session, job_ids: list[int]) -> list[int]:
    """Follow-up of an abort, in its own transaction (lock order: finish locks, pipelines,
    jobs): close module-level jobs of other pipelines that joined the aborted types, and
    request the trailing aggregation that other pipelines were waiting for. Returns job ids
    to dispatch."""
    if not job_ids:
        return []
    keys = {(int(m), int(y)) for m, y in session.execute(
        select(Job.module_type_id, Job.year).where(
            Job.id.in_(job_ids), Job.job_type == JobType.emission_recalc))
        if m is not None and y is not None}  # always set on a recalculation
    if not keys:
        return []
    lock_finish(session, keys, set(job_ids))
    dialect_of(session).sweep_stages(session)  # the aborted jobs' stages
    out = [a for m, y in sorted(keys) if (a := settle_aggregation(session, m, y)) is not None]
    closed = close_module_jobs(session, keys)
    pipelines.recompute_related(session, set(job_ids) | set(closed))
    return out
