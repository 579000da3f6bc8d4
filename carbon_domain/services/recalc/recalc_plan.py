"""Planning a recalculation: claim the per-type jobs and split each (type, year) slice into
id-range chunks, recorded in ``recalc_chunks`` as the job's expected fan-out."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from carbon_domain.catalog import DEPENDS_ON_OTHER_MODULES, MODULE_OF, DataEntryType
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import RecalcChunk
from carbon_domain.json_types import JsonValue
from carbon_domain.services.jobs import jobs
from carbon_domain.services.jobs.job_meta import config_with
from carbon_domain.services.recalc import affected, chunk_sizing, inputs_read
from carbon_domain.settings import get_settings


@dataclass(frozen=True)
class PlannedJob:
    job_id: int
    attempt: int
    det: int
    module_type_id: int
    year: int
    chunk_nos: tuple[int, ...]


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


def plan_job(session: Session, job_id: int, attempt: int, *, position: tuple[int, int],
             chunk_size: int | None = None) -> PlannedJob:
    """Split the job's slice into id-range chunks and record them as its expected fan-out."""
    job = session.get(Job, job_id)
    assert job is not None and job.data_entry_type_id is not None and job.year is not None
    assert job.module_type_id is not None
    size = chunk_size or get_settings().chunk_size
    det, year = job.data_entry_type_id, job.year
    # What this run reads is noted before anything reads it, so an input that lands between
    # the two is counted as unread (stale), never as read but missed: the watermark a later
    # incremental run starts from, and which input jobs the staleness status counts as
    # covered (services/recalc/inputs_read.py).
    marks: dict[str, JsonValue] = {
        **affected.plan_marks(session, job.module_type_id, det, year),
        "inputs_read": inputs_read.record(session, job.module_type_id, det, year)}
    # Incremental when factor changes alone made the slice stale (services/recalc/affected.py).
    scope = affected.plan_scope(session, job)
    # A re-plan (retry after a lost chord) starts the fan-out afresh, and a stage afresh:
    # the stages of earlier attempts (and of jobs since aborted) are dropped.
    session.execute(delete(RecalcChunk).where(RecalcChunk.job_id == job_id))
    dialect = dialect_of(session)
    dialect.sweep_stages(session)
    indexed = False
    if scope.entry_ids is not None:
        total = len(scope.entry_ids)
        chunks = [RecalcChunk(job_id=job_id, chunk_no=n, lo_id=part[0], hi_id=part[-1],
                              planned_entries=len(part), entry_ids=part)
                  for n, part in enumerate(_id_parts(scope.entry_ids, size))]
    else:
        # A whole slice: chunks sized by its emission rows, not its entries (chunk_sizing).
        rpe = chunk_sizing.last_rows_per_entry(session, job.module_type_id, det, year, job_id)
        size = chunk_sizing.entries_per_chunk(size, rpe, get_settings().chunk_max_growth)
        chunks, total = _range_chunks(session, job_id, det, year, size)
        limit = get_settings().stage_indexed_max_rows  # 0: never
        indexed = limit > 0 and chunk_sizing.expected_rows(total, rpe) <= limit
    stage = dialect.prepare_slice(session, job_id, attempt, det, year,
                                  full=scope.entry_ids is None, indexed=indexed)
    session.add_all(chunks)
    name = DataEntryType(det).name
    jobs.set_meta(session, job_id, config=config_with(
        job.meta, position=list(position), chunks=len(chunks), chunk_size=size, **marks,
        scope=scope.describe(), stage=stage, stage_indexed=stage is not None and indexed))
    jobs.heartbeat(session, job_id, done=0, total=int(total),
                   message=f"Recalculating {name} ({position[0]}/{position[1]}): 0/{int(total)}")
    session.flush()
    return PlannedJob(job_id, attempt, det, MODULE_OF[DataEntryType(det)].value, year,
                      tuple(c.chunk_no for c in chunks))


# An incremental job is small and the pipeline waits for its slowest chunk: one it factor
# at 1M gave 13,015 entries cut as 10,000 + 3,015, so one worker process did 3.3× the
# other's share. Equal parts, at least MIN_PARTS (the worker processes of the documented
# two-process deployment) while each keeps ≥ MIN_PART. Four parts (two rounds) measured
# worse than two at 1M (median ~2.7 s vs ~2.45 s end to end over 10 interleaved runs each,
# load 5-6): each chunk has its fixed cost (locks, context, commit, chord counter).
MIN_PARTS, MIN_PART = 2, 1_000


def _part_count(n: int, size: int) -> int:
    """Chunks of at most ``size`` for ``n`` entries, at least MIN_PARTS while each keeps
    ≥ MIN_PART entries."""
    return max(-(-n // size), min(MIN_PARTS, n // MIN_PART), 1)


def _id_parts(ids: list[int], size: int) -> list[list[int]]:
    """``ids`` (sorted) in equal consecutive parts of at most ``size``."""
    n = len(ids)
    if not n:
        return []
    parts = _part_count(n, size)
    step, extra = divmod(n, parts)
    out, start = [], 0
    for k in range(parts):
        end = start + step + (1 if k < extra else 0)
        out.append(ids[start:end])
        start = end
    return out


# Up to this many chunks a slice's last round weighs (≥ 1/6 of the job with 2 processes):
# an odd count leaves one process idle in it. Beyond, other slices' chunks fill the gap
# and every extra chunk costs its fixed ~20 ms: rounding every slice up made the 1M mix
# 130 chunks instead of 117 for no gain (19.8 / 21.9 s vs 19.8 / 18.6 s, 2 A/B pairs).
EVEN_UP_TO = 6


def range_part_size(n: int, size: int) -> int:
    """Entries per chunk of a whole slice of ``n`` entries: at most ``size``, equal chunks,
    and a small slice cut into a multiple of MIN_PARTS so the two worker processes finish
    together. The 50k `it` slice was 5 chunks of 10,000, 3 rounds with one process idle in
    the last; it is now 6 of 8,334 (and a 5,000-entry slice 2 of 2,500 instead of 1)."""
    parts = _part_count(n, size)
    if 1 < parts < EVEN_UP_TO and parts % MIN_PARTS:
        parts += MIN_PARTS - parts % MIN_PARTS
    return max(-(-n // parts), 1)


def _range_chunks(session: Session, job_id: int, det: int, year: int, size: int
                  ) -> tuple[list[RecalcChunk], int]:
    """The whole slice as id ranges of about equal size (``range_part_size``)."""
    total, max_id = session.execute(text(
        "SELECT count(*), max(id) FROM data_entries WHERE data_entry_type_id = :d AND year = :y"
    ), {"d": det, "y": year}).one()
    part = range_part_size(int(total), size)
    bounds = dialect_of(session).slice_bounds(session, det, year, part, -(-int(total) // part))
    chunks = []
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] - 1 if i + 1 < len(bounds) else int(max_id)
        planned = part if i + 1 < len(bounds) else int(total) - part * i
        chunks.append(RecalcChunk(job_id=job_id, chunk_no=i, lo_id=lo, hi_id=hi,
                                  planned_entries=planned))
    return chunks, int(total)


def record_chunk_task_ids(session: Session, job_id: int, task_ids: dict[int, str]) -> None:
    for chunk_no, task_id in task_ids.items():
        session.execute(update(RecalcChunk).where(
            RecalcChunk.job_id == job_id, RecalcChunk.chunk_no == chunk_no
        ).values(task_id=task_id))
