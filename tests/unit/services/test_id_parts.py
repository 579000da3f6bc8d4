"""How an incremental job's entry ids (recalc_plan._id_parts) and a whole slice
(recalc_plan.range_part_size) are cut into chunks."""

from __future__ import annotations

import pytest

from carbon_domain.services.recalc.recalc_plan import (
    EVEN_UP_TO,
    MIN_PART,
    MIN_PARTS,
    _id_parts,
    range_part_size,
)


@pytest.mark.parametrize(("n", "size", "expected"), [
    (0, 10_000, []),
    (1, 10_000, [1]),
    (999, 10_000, [999]),
    (1_999, 10_000, [1_999]),                 # two parts would be < MIN_PART
    (2_582, 10_000, [1_291, 1_291]),
    (13_015, 10_000, [6_508, 6_507]),         # was 10,000 + 3,015
    (25_000, 10_000, [8_334, 8_333, 8_333]),  # ≤ the chunk size
    (40_000, 10_000, [10_000] * 4),
    (120, 50, [40, 40, 40]),
])
def test_parts_are_equal_consecutive_and_cover_every_id(n: int, size: int,
                                                         expected: list[int]) -> None:
    ids = list(range(100, 100 + n))
    parts = _id_parts(ids, size)
    assert [len(p) for p in parts] == expected
    assert [i for p in parts for i in p] == ids
    assert all(len(p) <= size for p in parts)
    assert len(parts) >= min(MIN_PARTS, n // MIN_PART)


@pytest.mark.parametrize(("n", "size", "chunks"), [
    (0, 10_000, 0),
    (1, 10_000, 1),
    (1_999, 10_000, 1),        # two chunks would be < MIN_PART
    (5_123, 10_000, 2),        # was 1 chunk: one worker process idle
    (10_000, 10_000, 2),       # two halves for two worker processes
    (50_000, 10_000, 6),       # was 5: 3 rounds with one process idle in the last
    (40_000, 10_000, 4),
    (70_000, 10_000, 7),       # many chunks: no extra one (other slices fill the gap)
    (102_450, 10_000, 11),
    (122_951, 10_000, 13),
])
def test_a_small_slice_is_cut_into_an_even_number_of_equal_chunks(n: int, size: int,
                                                                   chunks: int) -> None:
    part = range_part_size(n, size)
    assert part <= size
    got = -(-n // part) if n else 0   # the planner's row_number() % part cut
    assert got == chunks
    if n >= 2 * MIN_PART and got < EVEN_UP_TO:
        assert got % MIN_PARTS == 0
