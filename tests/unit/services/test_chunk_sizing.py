"""How many entries a whole slice's chunk holds (services/recalc/chunk_sizing.py), and where
the rows per entry come from (the slice's last finished recalculation)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from carbon_domain.db.enums import IngestionMethod, JobResult, JobState, JobType, TargetType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import RecalcChunk
from carbon_domain.services.recalc.chunk_sizing import (
    ENTRY_COST,
    REFERENCE_ROWS_PER_ENTRY,
    entries_per_chunk,
    growth,
    last_rows_per_entry,
)
from carbon_domain.services.recalc.recalc_plan import range_part_size


@pytest.mark.parametrize(("rows_per_entry", "expected"), [
    (None, 1.0),                       # never recalculated: the configured size
    (24.0, 1.0),                       # member, student: the reference
    (30.0, 1.0),                       # heavier than the reference: never smaller
    (4.0, (24 + 7) / (4 + 7)),         # 2.8×
    (5.0, (24 + 7) / (5 + 7)),         # 2.6×
    (1.0, (24 + 7) / (1 + 7)),         # 3.9×
    (0.0, 4.0),                        # no factor matched: entries only, 4.4× capped at 4
])
def test_growth_follows_the_rows_per_entry_up_to_the_cap(rows_per_entry: float | None,
                                                          expected: float) -> None:
    assert growth(rows_per_entry, 4.0) == pytest.approx(expected)


def test_no_growth_when_the_cap_is_one() -> None:
    assert growth(1.0, 1.0) == 1.0
    assert entries_per_chunk(50, 1.0, 1.0) == 50


def test_the_reference_matches_the_documented_cost_model() -> None:
    assert (REFERENCE_ROWS_PER_ENTRY, ENTRY_COST) == (24.0, 7.0)
    assert entries_per_chunk(10_000, 1.0, 4.0) == 38_750
    assert entries_per_chunk(10_000, 24.0, 4.0) == 10_000
    assert entries_per_chunk(10_000, 4.0, 4.0) == 28_181
    assert entries_per_chunk(10_000, 1.0, 2.0) == 20_000


# The 1M bench seed: (entries, rows per entry) of its 23 slices.
BENCH_1M = [(122_951, 1), (122_951, 1), (102_459, 1), (81_967, 1), (81_967, 1), (61_475, 1),
            (61_475, 1), (61_475, 1), (51_229, 24), (51_229, 1), (40_984, 1), (30_738, 1),
            (30_738, 4), (15_369, 24), (15_369, 5), (15_369, 1), (10_246, 1), (10_246, 1),
            (10_246, 1), (6_148, 1), (5_123, 1), (5_123, 1), (5_123, 1)]


def _chunks(n: int, size: int) -> int:
    return -(-n // range_part_size(n, size))


def test_the_1m_seed_gets_half_the_chunks() -> None:
    before = sum(_chunks(n, 10_000) for n, _ in BENCH_1M)
    after = sum(_chunks(n, entries_per_chunk(10_000, r, 4.0)) for n, r in BENCH_1M)
    assert (before, after) == (122, 60)


def _job(s: Session, *, det: int = 11, year: int = 2025, state: JobState = JobState.FINISHED,
         result: JobResult | None = JobResult.SUCCESS, chunks: tuple[tuple[int, int], ...] = ()
         ) -> int:
    job = Job(job_type=JobType.emission_recalc, module_type_id=1, data_entry_type_id=det,
              year=year, target_type=TargetType.DATA_ENTRIES,
              ingestion_method=IngestionMethod.computed, state=state, result=result)
    s.add(job)
    s.flush()
    for n, (entries, rows) in enumerate(chunks):
        s.add(RecalcChunk(job_id=job.id, chunk_no=n, lo_id=0, hi_id=0, planned_entries=entries,
                          done=True, entries=entries, rows=rows))
    s.flush()
    return job.id


def test_rows_per_entry_of_the_last_finished_recalculation(session: Session) -> None:
    _job(session, chunks=((100, 2400),))
    _job(session, chunks=((300, 300), (100, 100)))                     # the last good one
    _job(session, result=JobResult.ERROR, chunks=((10, 500),))         # failed: ignored
    _job(session, det=12, chunks=((10, 500),))                         # another slice
    _job(session, year=2024, chunks=((10, 500),))                      # another year
    current = _job(session, state=JobState.RUNNING, result=None)
    assert last_rows_per_entry(session, 1, 11, 2025, current) == 1.0


def test_unknown_without_history_or_entries(session: Session) -> None:
    assert last_rows_per_entry(session, 1, 11, 2025, 10**6) is None
    _job(session, chunks=((0, 0),))
    later = _job(session, state=JobState.RUNNING, result=None)
    assert last_rows_per_entry(session, 1, 11, 2025, later) is None
