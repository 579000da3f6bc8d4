"""One recalculation chunk: an id range of one (type, year) slice whose emission rows are
written in one transaction, so a redelivered chunk leaves exactly the same rows.

    lock (shared, vs factor writes) ─► still our attempt? ─► compute ─► write rows
    ─► record the chunk ─► fence (commit only while the attempt owns the job) + progress

Where the rows go: a full recalculation with a stage (PostgreSQL, db/emission_partitions.py)
COPYs into the stage, which its finish swaps in; a chunk already done is skipped (its rows
are in the stage, committed with its done mark), and the chunk that completes the job
builds the stage's index and records the slice's sums from it (one GROUP BY in the server:
the other chunks count nothing in Python); a small slice's stage is indexed from the start
and each chunk sums its own rows through the index instead, so nothing is left after the
last chunk. Otherwise (an incremental chunk, SQLite) the chunk DELETEs its entries' rows,
COPYs the new ones in place and counts its partial sums.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import String, bindparam, cast, func, literal, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from carbon_domain.catalog import DataEntryType
from carbon_domain.db import locks
from carbon_domain.db.base import JsonType, utcnow
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.enums import JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import RecalcChunk
from carbon_domain.engine import BatchResult, compute_batch
from carbon_domain.json_types import JsonObject
from carbon_domain.services.inputs.slices import load_slice_context
from carbon_domain.services.jobs import jobs
from carbon_domain.services.jobs.job_meta import job_config
from carbon_domain.services.recalc import chunk_sums, unmatched
from carbon_domain.services.recalc.chunk_io import delete_rows, hold_entries, read_chunk, write_rows

__all__ = ["ChunkEnvelope", "recalculate_chunk", "write_rows"]


@dataclass(frozen=True, slots=True)
class ChunkEnvelope:
    """What a chunk did: its counts, or ``skipped`` (the job was aborted, finished or
    superseded before it ran)."""

    job_id: int
    chunk: int
    skipped: bool = False
    entries: int = 0
    rows: int = 0
    missing: int = 0
    errors: int = 0
    seconds: float = 0.0

    def to_json(self) -> JsonObject:
        """The chunk task's return value (small: a chord collects one per chunk)."""
        if self.skipped:
            return {"ok": True, "skipped": True, "job_id": self.job_id, "chunk": self.chunk}
        return {"ok": True, "job_id": self.job_id, "chunk": self.chunk, "entries": self.entries,
                "rows": self.rows, "missing": self.missing, "errors": self.errors,
                "seconds": self.seconds}


def recalculate_chunk(session: Session, job_id: int, attempt: int, chunk_no: int
                      ) -> ChunkEnvelope:
    """Recompute one chunk. Returns a small envelope; bad entries are reported, never raised.
    Raises ``AttemptSuperseded`` when the job changed hands while the chunk ran."""
    started = time.perf_counter()
    claimed = _own_chunk(session, job_id, attempt, chunk_no)
    if claimed is None:
        # Aborted, finished or superseded by a newer attempt: nothing to do.
        return ChunkEnvelope(job_id, chunk_no, skipped=True)
    job = chunk = claimed  # one row: the job's columns and its chunk's
    config = job_config(job.meta)
    stage = config.stage if chunk.entry_ids is None else None
    if stage is not None and chunk.done:
        return ChunkEnvelope(job_id, chunk_no, skipped=True)  # a redelivery: rows are in
    result, partials = _rewrite(session, job.data_entry_type_id, job.year, chunk, stage,
                                config.stage_indexed)
    seconds = time.perf_counter() - started
    # Recorded before the fence: the fence's job row lock is held until commit and every
    # sibling chunk of the job waits for it at its own fence (1,069 of 1,394 py-spy samples
    # of the fence were that wait in a 1M run); the chunk row is this chunk's alone, and a
    # superseded attempt rolls the record back with the rows. A re-plan locks the job row,
    # then deletes the chunk rows: racing a superseded chunk between here and its fence, it
    # deadlocks, PostgreSQL aborts one of the two after deadlock_timeout and that task is
    # retried (OperationalError is transient: carbon_tasks/base.py).
    _record(session, job_id, chunk_no, result, seconds, partials)
    # The state check ran before this chunk's work; the job may have been re-planned
    # meanwhile (e.g. this worker froze past the stale threshold). Commit only while this
    # attempt still owns the job; the fence's row lock orders us before any later change.
    # The fence locks the job row, then writes its progress.
    message = _fence_with_progress(session, job, config.position, attempt, chunk_no,
                                   result.entries)
    if message is None:
        raise jobs.AttemptSuperseded(f"job {job_id}: attempt {attempt} was superseded while"
                                     f" chunk {chunk_no} ran")
    if stage is not None and not config.stage_indexed and _last_chunk(session, job_id,
                                                                      chunk_no):
        # Every other chunk is in (the fence's lock orders us after them): index the stage
        # and sum the slice now, while other slices' chunks still run, not in the finish
        # that swaps it in or the aggregation after it.
        dialect_of(session).finish_stage(session, stage)
        chunk_sums.record_stage_sums(session, job_id, chunk_no, job.data_entry_type_id,
                                     job.year, stage)
        # The chunk's time includes this closing work: it is the slice's, not orchestration.
        seconds = time.perf_counter() - started
        session.execute(update(RecalcChunk).where(
            RecalcChunk.job_id == job_id, RecalcChunk.chunk_no == chunk_no)
            .values(seconds=seconds).execution_options(synchronize_session=False))
    _mirror_on_module_job(session, job.id, message)
    return ChunkEnvelope(job_id, chunk_no, entries=result.entries, rows=len(result.rows),
                         missing=len(result.missing), errors=len(result.errors),
                         seconds=round(seconds, 4))


def _own_chunk(session: Session, job_id: int, attempt: int, chunk_no: int
               ) -> Any | None:
    """Take the shared (module, year) lock, then check the attempt still owns the job.

    Shared: chunks run side by side, but never while factors or entries of this module/year
    are being written (a recalculation must not read a half-written set). Taken before the
    state check so an abort that lands while we wait is seen. The job and its chunk row in
    one statement (columns only: the ORM row also decoded the chunk's JSON)."""
    scope = session.execute(select(Job.module_type_id, Job.year).where(Job.id == job_id)).first()
    if scope is None:
        return None
    locks.xact_lock(session, locks.FACTORS_VS_RECALC,
                    locks.module_year_key(scope.module_type_id, scope.year), shared=True)
    row = session.execute(
        select(Job.id, Job.state, Job.attempts, Job.data_entry_type_id, Job.year,
               Job.module_type_id, Job.meta, Job.progress_total,
               RecalcChunk.lo_id, RecalcChunk.hi_id, RecalcChunk.entry_ids, RecalcChunk.done)
        .outerjoin(RecalcChunk, (RecalcChunk.job_id == Job.id)
                   & (RecalcChunk.chunk_no == chunk_no))
        .where(Job.id == job_id)
    ).one()
    if row.state != JobState.RUNNING or row.attempts != attempt or row.lo_id is None:
        return None
    return row


def _rewrite(session: Session, det: int, year: int, chunk: Any, stage: str | None,
             stage_indexed: bool = False) -> tuple[BatchResult, chunk_sums.ChunkPartials]:
    """Compute the chunk's entries and write their emission rows (services/recalc/chunk_io.py):
    into the stage, or in place over the old rows. Also returns what this chunk adds to the
    slice's sums, so the aggregation folds instead of scanning (recorded with the chunk's
    other figures: one UPDATE): counted here in Python in place, summed in the server from
    an indexed stage, none for a big stage (its last chunk sums the whole stage)."""
    ctx = load_slice_context(session, det, year)
    entries, crm_of = read_chunk(session, det, year, chunk.lo_id, chunk.hi_id, chunk.entry_ids)
    result = compute_batch(det, entries, ctx.index, ctx.refs)
    old_rows = None if stage is not None else delete_rows(
        session, det, year, chunk.lo_id, chunk.hi_id, chunk.entry_ids)
    write_rows(session, det, year, result.rows, into=stage)
    hold_entries(session, det, year, chunk.lo_id, chunk.hi_id, chunk.entry_ids, crm_of,
                 into=stage)
    if stage is None:
        partials = chunk_sums.chunk_partials(crm_of, result.rows, old_rows)
    elif stage_indexed:
        partials = chunk_sums.stage_chunk_partials(session, det, year, stage, chunk.lo_id,
                                                   chunk.hi_id, crm_of)
    else:
        partials = chunk_sums.staged_partials()
    _relink(session, result.relinked)
    return result, partials


def _last_chunk(session: Session, job_id: int, chunk_no: int) -> bool:
    """No other chunk of the job is still undone (asked after the fence's lock)."""
    return session.execute(select(RecalcChunk.chunk_no).where(
        RecalcChunk.job_id == job_id, RecalcChunk.done.is_(False),
        RecalcChunk.chunk_no != chunk_no).limit(1)).first() is None


class _JsonText(TypeDecorator[str]):
    """A JSON column's value given as JSON text, sent as it is (the JSON type would encode
    it again, with the standard library)."""

    impl = JsonType
    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


def _record(session: Session, job_id: int, chunk_no: int, result: BatchResult, seconds: float,
            partials: chunk_sums.ChunkPartials) -> None:
    """One UPDATE of the chunk row. The partial sums are encoded with orjson: a `member`
    chunk's are ~0.5 MB of cells (ints and exact decimals as text: the same text as
    json.dumps up to spacing, which JSONB does not keep), 3-5× faster than the ORM's
    json.dumps."""
    # The first 20 with their reason (what the job shows), then the ids alone up to
    # unmatched.MAX_ERROR_IDS: the slice's entries that could not be computed
    # (services/recalc/unmatched.py) are tracked by id across incremental runs.
    details: list[dict[str, Any]] = [{"entry_id": e, "reason": r[:200]}
                                     for e, r in result.errors[:20]]
    details += [{"entry_id": e} for e, _ in result.errors[20:unmatched.MAX_ERROR_IDS]]
    session.execute(
        update(RecalcChunk)
        .where(RecalcChunk.job_id == job_id, RecalcChunk.chunk_no == chunk_no)
        .values(partials=bindparam("partials", orjson.dumps(partials).decode(),
                                   type_=_JsonText()), done=True,
                entries=result.entries, rows=len(result.rows), missing=len(result.missing),
                errors=len(result.errors), error_details=details, seconds=seconds,
                finished_at=utcnow())
        .execution_options(synchronize_session=False))


def _fence_with_progress(session: Session, job: Any, pos: tuple[int, int], attempt: int,
                         chunk_no: int, entries: int) -> str | None:
    """``jobs.fence`` and the progress heartbeat. Returns the progress message, or None when
    the attempt no longer owns the job.

    Two statements, on purpose: the job row is locked first, then the done chunks are summed
    in a statement that starts after the lock is ours. Under READ COMMITTED an UPDATE whose
    SET sums the chunks in a subquery reads them with the snapshot taken *before* it waited
    for a sibling chunk's row lock, so it missed the sibling's chunk and progress ended at
    1450/1500 in a CI run. Now every chunk that committed before us is counted, and none can
    commit between the sum and our commit (it would need the same row lock)."""
    owned = session.execute(
        select(Job.id).where(Job.id == job.id, Job.state == JobState.RUNNING,
                             Job.attempts == attempt).with_for_update()).first()
    if owned is None:
        return None
    prefix = f"Recalculating {DataEntryType(job.data_entry_type_id).name} ({pos[0]}/{pos[1]}): "
    done = select(func.coalesce(func.sum(RecalcChunk.entries), 0)).where(
        RecalcChunk.job_id == job.id, RecalcChunk.done.is_(True),
        RecalcChunk.chunk_no != chunk_no).scalar_subquery() + entries
    row = session.execute(
        update(Job).where(Job.id == job.id)
        .values(heartbeat_at=utcnow(), progress_done=done,
                status_message=literal(prefix) + cast(done, String) + "/"
                + cast(Job.progress_total, String))
        .returning(Job.status_message)).first()
    return None if row is None else str(row[0])


def _mirror_on_module_job(session: Session, job_id: int, message: str) -> None:
    """A module-level recalculation shows its current type's message and the summed
    progress of its module's types (not of the facility types the pipeline recalculates
    after them: the module job closes without them), so one job id is enough to follow the
    whole module. Its final figure is set when it closes (recalc_finish). Best effort:
    a root row another transaction holds (an abort, a sibling chunk) is skipped, never
    waited for, so this can neither deadlock nor slow a chunk down."""
    lock = dialect_of(session).skip_locked()
    session.execute(text(
        "UPDATE data_ingestion_jobs AS r SET status_message = :m,"
        " heartbeat_at = CURRENT_TIMESTAMP,"
        " progress_done = (SELECT coalesce(sum(c.progress_done), 0) FROM data_ingestion_jobs c"
        "   WHERE c.pipeline_id = r.pipeline_id AND c.job_type = :per_type"
        "   AND c.module_type_id = r.module_type_id),"
        " progress_total = (SELECT coalesce(sum(c.progress_total), 0) FROM data_ingestion_jobs c"
        "   WHERE c.pipeline_id = r.pipeline_id AND c.job_type = :per_type"
        "   AND c.module_type_id = r.module_type_id)"
        " WHERE r.id IN (SELECT p.id FROM data_ingestion_jobs p"
        "   WHERE p.job_type = :root AND p.state = :running"
        "   AND p.pipeline_id = (SELECT pipeline_id FROM data_ingestion_jobs WHERE id = :j)"
        f"  {lock})"), {"m": message, "j": job_id, "per_type": JobType.emission_recalc.value,
                        "root": JobType.module_emission_recalc.value,
                        "running": JobState.RUNNING.value})


def _relink(session: Session, relinked: dict[int, int | None]) -> None:
    if not relinked:
        return
    dialect_of(session).relink_primary_factors(session, relinked)
