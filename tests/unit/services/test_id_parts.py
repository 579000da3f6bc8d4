"""How an incremental job's entry ids are cut into chunks (recalc_plan._id_parts)."""

from __future__ import annotations

import pytest

from carbon_domain.services.recalc_plan import MIN_PART, MIN_PARTS, _id_parts


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
