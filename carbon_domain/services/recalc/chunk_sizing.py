"""How many entries a full recalculation puts in one chunk: sized by the work, not the count.

A chunk's work is its entries (read, JSON, engine, partial sums) plus its emission rows
(delete, COPY). In a 1M run (2026-12-06, chunk seconds per entry, 2 workers) `member` (24
rows per entry) took 0.63 ms per entry and the 1-row types 0.12-0.21 ms: ~0.02 ms per row and
~0.15 ms per entry, so an entry weighs ``ENTRY_COST`` = 7 rows on top of its own rows.
``chunk_size`` (CARBON_CHUNK_SIZE) is the entry count for the heaviest slices (24 rows per
entry: `member`, `student`); a slice with fewer rows per entry gets proportionally more
entries per chunk, at most ``chunk_max_growth`` (CARBON_CHUNK_MAX_GROWTH) times
``chunk_size`` (a 1-row type: 3.9×). At 1M entries (19 of the 23 types have one row per
entry) 122 chunks → 60, each with its fixed cost: lock, job row, fence, commit, Celery's
result and chord counter. Rows per entry come from the slice's last finished
recalculation; a slice never recalculated keeps ``chunk_size``.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carbon_domain.db.enums import JobResult, JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import RecalcChunk

# Per entry, in emission rows' worth of work (see the module docstring for the figures).
ENTRY_COST = 7.0
# The rows per entry ``chunk_size`` is meant for: the heaviest types keep it unchanged.
REFERENCE_ROWS_PER_ENTRY = 24.0


def growth(rows_per_entry: float | None, max_growth: float) -> float:
    """How many times ``chunk_size`` entries a chunk holds for a slice with this many rows per
    entry: 1 for the reference (24) or heavier, or when unknown; at most ``max_growth``."""
    if rows_per_entry is None or rows_per_entry < 0 or max_growth <= 1:
        return 1.0
    ratio = (REFERENCE_ROWS_PER_ENTRY + ENTRY_COST) / (rows_per_entry + ENTRY_COST)
    return min(max_growth, max(1.0, ratio))


def entries_per_chunk(chunk_size: int, rows_per_entry: float | None, max_growth: float) -> int:
    """The chunk size in entries for a whole slice (before ``range_part_size`` evens it)."""
    return max(1, int(chunk_size * growth(rows_per_entry, max_growth)))


def expected_rows(entries: int, rows_per_entry: float | None) -> float:
    """The emission rows a whole slice's recalculation should write: its entries times the
    last run's rows per entry — the heaviest types' when unknown or when the last run wrote
    none (its factors were missing: the next run may write the full count), so such a slice
    is never taken for a small one."""
    if not rows_per_entry or rows_per_entry < 0:
        return entries * REFERENCE_ROWS_PER_ENTRY
    return entries * rows_per_entry


def last_rows_per_entry(session: Session, module_type_id: int, det: int, year: int,
                        before_job_id: int) -> float | None:
    """Emission rows per entry of the slice's last finished, not failed recalculation (its
    chunk rows' counts); None when there is none or it read no entry."""
    last = select(Job.id).where(
        Job.year == year, Job.job_type == JobType.emission_recalc,
        Job.module_type_id == module_type_id, Job.data_entry_type_id == det,
        Job.id < before_job_id, Job.state == JobState.FINISHED,
        Job.result.in_((JobResult.SUCCESS, JobResult.WARNING)),
    ).order_by(Job.id.desc()).limit(1).scalar_subquery()
    entries, rows = session.execute(select(
        func.coalesce(func.sum(RecalcChunk.entries), 0),
        func.coalesce(func.sum(RecalcChunk.rows), 0)).where(RecalcChunk.job_id == last)).one()
    return None if not entries else float(rows) / float(entries)
