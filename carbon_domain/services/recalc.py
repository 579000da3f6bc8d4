"""Chunked recalculation of a (data entry type, year) slice.

A chunk is an id range of one slice. It rewrites its entries' emission rows in one
transaction (delete + bulk insert), so a redelivered chunk leaves exactly the same rows.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from carbon_domain.catalog import DEPENDS_ON_OTHER_MODULES, MODULE_OF, DataEntryType
from carbon_domain.db import locks
from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import JobState
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import RecalcChunk
from carbon_domain.engine import compute_batch
from carbon_domain.services import jobs
from carbon_domain.services.recalc_finish import (  # noqa: F401 - re-exported
    FinishOutcome,
    after_abort,
    close_module_job,
    close_module_jobs,
    complete_recalculation,
    finish_job,
)
from carbon_domain.services.slices import load_slice_context
from carbon_domain.settings import get_settings


@dataclass(frozen=True)
class PlannedJob:
    job_id: int
    attempt: int
    det: int
    module_type_id: int
    year: int
    chunk_nos: tuple[int, ...]


def plan_job(session: Session, job_id: int, attempt: int, *, position: tuple[int, int],
             chunk_size: int | None = None) -> PlannedJob:
    """Split the job's slice into id-range chunks and record them as its expected fan-out."""
    job = session.get(Job, job_id)
    assert job is not None and job.data_entry_type_id is not None and job.year is not None
    size = chunk_size or get_settings().chunk_size
    det, year = job.data_entry_type_id, job.year
    bounds = [r[0] for r in session.execute(text(
        "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM data_entries"
        " WHERE data_entry_type_id = :d AND year = :y) t WHERE (rn - 1) % :cs = 0 ORDER BY id"
    ), {"d": det, "y": year, "cs": size})]
    total, max_id = session.execute(text(
        "SELECT count(*), max(id) FROM data_entries WHERE data_entry_type_id = :d AND year = :y"
    ), {"d": det, "y": year}).one()
    # A re-plan (retry after a lost chord) starts the fan-out afresh.
    session.execute(delete(RecalcChunk).where(RecalcChunk.job_id == job_id))
    chunks = []
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] - 1 if i + 1 < len(bounds) else int(max_id)
        planned = size if i + 1 < len(bounds) else int(total) - size * i
        chunks.append(RecalcChunk(job_id=job_id, chunk_no=i, lo_id=lo, hi_id=hi,
                                  planned_entries=planned))
    session.add_all(chunks)
    name = DataEntryType(det).name
    jobs.set_meta(session, job_id, config={**(job.meta or {}).get("config", {}),
                                           "position": list(position), "chunks": len(chunks),
                                           "chunk_size": size})
    jobs.heartbeat(session, job_id, done=0, total=int(total),
                   message=f"Recalculating {name} ({position[0]}/{position[1]}): 0/{int(total)}")
    session.flush()
    return PlannedJob(job_id, attempt, det, MODULE_OF[DataEntryType(det)].value, year,
                      tuple(c.chunk_no for c in chunks))


def record_chunk_task_ids(session: Session, job_id: int, task_ids: dict[int, str]) -> None:
    for chunk_no, task_id in task_ids.items():
        session.execute(update(RecalcChunk).where(
            RecalcChunk.job_id == job_id, RecalcChunk.chunk_no == chunk_no
        ).values(task_id=task_id))


def recalculate_chunk(session: Session, job_id: int, attempt: int, chunk_no: int
                      ) -> dict[str, Any]:
    """Recompute one chunk. Returns a small envelope; bad entries are reported, never raised."""
    started = time.perf_counter()
    scope = session.execute(select(Job.module_type_id, Job.year).where(Job.id == job_id)).first()
    if scope is None:
        return {"ok": True, "skipped": True, "job_id": job_id, "chunk": chunk_no}
    # Shared: chunks run side by side, but never while factors or entries of this
    # module/year are being written (a recalculation must not read a half-written set).
    # Taken before the state check so an abort that lands while we wait is seen.
    locks.xact_lock(session, locks.FACTORS_VS_RECALC,
                    locks.module_year_key(scope.module_type_id, scope.year), shared=True)
    job = session.execute(
        select(Job.state, Job.attempts, Job.data_entry_type_id, Job.year, Job.module_type_id,
               Job.meta, Job.progress_total)
        .where(Job.id == job_id)
    ).one()
    if job.state != JobState.RUNNING or job.attempts != attempt:
        # Aborted, finished or superseded by a newer attempt: nothing to do.
        return {"ok": True, "skipped": True, "job_id": job_id, "chunk": chunk_no}
    chunk = session.get(RecalcChunk, (job_id, chunk_no))
    if chunk is None:
        return {"ok": True, "skipped": True, "job_id": job_id, "chunk": chunk_no}
    det, year = job.data_entry_type_id, job.year
    ctx = load_slice_context(session, det, year)
    entries = _read_entries(session, det, year, chunk.lo_id, chunk.hi_id)
    result = compute_batch(det, entries, ctx.index, ctx.refs)
    session.execute(text(
        "DELETE FROM data_entry_emissions WHERE data_entry_id IN (SELECT id FROM data_entries"
        " WHERE data_entry_type_id = :d AND year = :y AND id BETWEEN :lo AND :hi)"
    ), {"d": det, "y": year, "lo": chunk.lo_id, "hi": chunk.hi_id})
    write_rows(session, result.rows)
    _relink(session, result.relinked)
    # The state check above ran before this chunk's work; the job may have been re-planned
    # meanwhile (e.g. this worker froze past the stale threshold). Commit only while this
    # attempt still owns the job; the fence's row lock orders us before any later change.
    if not jobs.fence(session, job_id, attempt):
        raise jobs.AttemptSuperseded(f"job {job_id}: attempt {attempt} was superseded while"
                                f" chunk {chunk_no} ran")
    chunk.done = True
    chunk.entries = result.entries
    chunk.rows = len(result.rows)
    chunk.missing = len(result.missing)
    chunk.errors = len(result.errors)
    chunk.error_details = [{"entry_id": e, "reason": r[:200]} for e, r in result.errors[:20]]
    chunk.seconds = time.perf_counter() - started
    chunk.finished_at = utcnow()
    session.flush()
    done = session.scalar(select(func.coalesce(func.sum(RecalcChunk.entries), 0)).where(
        RecalcChunk.job_id == job_id, RecalcChunk.done.is_(True)))
    pos = (job.meta or {}).get("config", {}).get("position", [1, 1])
    message = (f"Recalculating {DataEntryType(det).name} ({pos[0]}/{pos[1]}):"
               f" {int(done or 0)}/{job.progress_total}")
    jobs.heartbeat(session, job_id, done=int(done or 0), message=message)
    _mirror_on_module_job(session, job_id, message)
    return {"ok": True, "job_id": job_id, "chunk": chunk_no, "entries": result.entries,
            "rows": len(result.rows), "missing": len(result.missing),
            "errors": len(result.errors), "seconds": round(chunk.seconds, 4)}


def _mirror_on_module_job(session: Session, job_id: int, message: str) -> None:
    """A module-level recalculation shows its current type's message and the summed
    progress of its types, so one job id is enough to follow the whole module. Best effort:
    a root row another transaction holds (an abort, a sibling chunk) is skipped, never
    waited for, so this can neither deadlock nor slow a chunk down."""
    lock = "FOR UPDATE SKIP LOCKED" if session.get_bind().dialect.name == "postgresql" else ""
    session.execute(text(
        "UPDATE data_ingestion_jobs AS r SET status_message = :m,"
        " heartbeat_at = CURRENT_TIMESTAMP,"
        " progress_done = (SELECT coalesce(sum(c.progress_done), 0) FROM data_ingestion_jobs c"
        "   WHERE c.pipeline_id = r.pipeline_id AND c.job_type = 'emission_recalc'),"
        " progress_total = (SELECT coalesce(sum(c.progress_total), 0) FROM data_ingestion_jobs c"
        "   WHERE c.pipeline_id = r.pipeline_id AND c.job_type = 'emission_recalc')"
        " WHERE r.id IN (SELECT p.id FROM data_ingestion_jobs p"
        "   WHERE p.job_type = 'module_emission_recalc' AND p.state = 'RUNNING'"
        "   AND p.pipeline_id = (SELECT pipeline_id FROM data_ingestion_jobs WHERE id = :j)"
        f"  {lock})"), {"m": message, "j": job_id})


def _read_entries(session: Session, det: int, year: int, lo: int, hi: int
                  ) -> list[tuple[int, dict[str, Any]]]:
    rows = session.execute(text(
        "SELECT id, data FROM data_entries WHERE data_entry_type_id = :d AND year = :y"
        " AND id BETWEEN :lo AND :hi ORDER BY id"), {"d": det, "y": year, "lo": lo, "hi": hi})
    out = []
    for i, data in rows:
        out.append((i, json.loads(data) if isinstance(data, str) else data))
    return out


def write_rows(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Bulk insert emission rows: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        buf = io.StringIO()
        w = buf.write
        null = "\\N"
        for de, et, scope, kg, av, fid in rows:
            w(f"{de}\t{et}\t{scope}\t{kg!r}\t{null if av is None else repr(av)}\t"
              f"{null if fid is None else fid}\n")
        buf.seek(0)
        _copy(session, "COPY data_entry_emissions (data_entry_id, emission_type_id, scope,"
                       " kg_co2eq, additional_value, primary_factor_id) FROM STDIN", buf)
        return
    session.execute(text(
        "INSERT INTO data_entry_emissions (data_entry_id, emission_type_id, scope, kg_co2eq,"
        " additional_value, primary_factor_id, computed_at) VALUES (:a, :b, :c, :d, :e, :f,"
        " CURRENT_TIMESTAMP)"),
        [{"a": r[0], "b": r[1], "c": r[2], "d": r[3], "e": r[4], "f": r[5]} for r in rows])


def _copy(session: Session, statement: str, buf: io.StringIO) -> None:
    """COPY on the session's raw DBAPI connection, its errors translated as SQLAlchemy's own
    would be: a lost connection (server restart, ``pg_terminate_backend``) becomes an
    ``OperationalError`` that the task retries, and the dead connection is invalidated so the
    rollback and the retry do not trip over it."""
    conn = session.connection()
    dialect = conn.dialect
    dbapi = dialect.loaded_dbapi
    raw = conn.connection.dbapi_connection
    try:
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.copy_expert(statement, buf)
    except dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, raw, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(statement, None, exc, dbapi.Error,
                                  connection_invalidated=lost, dialect=dialect) from exc


def _relink(session: Session, relinked: dict[int, int | None]) -> None:
    if not relinked:
        return
    params = [{"i": k, "f": v} for k, v in relinked.items()]
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(
            "UPDATE data_entries SET data = data || jsonb_build_object('primary_factor_id',"
            " CAST(:f AS integer)), updated_at = now() WHERE id = :i"), params)
    else:
        session.execute(text(
            "UPDATE data_entries SET data = json_set(data, '$.primary_factor_id', :f),"
            " updated_at = CURRENT_TIMESTAMP WHERE id = :i"), params)


def plan_jobs(session: Session, job_ids: list[int], task_id: str | None,
              root_job_id: int | None = None) -> list[PlannedJob]:
    """Claim the requested recalculation jobs and split each slice into chunks.

    Types other modules depend on (research facilities) are planned last, so their
    position in the progress message matches the order they run in.
    """
    # Rows are locked in ascending id order everywhere (dispatch too): no deadlocks.
    if root_job_id is not None:
        jobs.start_group(session, root_job_id, task_id)
    claimed: list[tuple[int, int, int]] = []
    for job_id in sorted(job_ids):
        attempt = jobs.claim(session, job_id, task_id)
        if attempt is None:
            continue  # finished, aborted, or already planned by a live task
        det = session.scalar(select(Job.data_entry_type_id).where(Job.id == job_id))
        claimed.append((job_id, attempt, int(det or 0)))
    claimed.sort(key=lambda c: (DataEntryType(c[2]) in DEPENDS_ON_OTHER_MODULES, c[0]))
    return [plan_job(session, job_id, attempt, position=(i, len(claimed)))
            for i, (job_id, attempt, _) in enumerate(claimed, start=1)]
