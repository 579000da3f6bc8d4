"""The preview's partial figures add up to the same numbers however the entries are split
into chunks: exact parts keep the exact sum, so ``math.fsum`` over the folded parts is
``math.fsum`` over every value (the figures of a chunked preview are those of one process)."""

from __future__ import annotations

import json
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from carbon_domain.services.preview.preview_meter import Partial, exact_parts, figures, fold

_KG = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_KG, max_size=60))
def test_exact_parts_keep_the_exact_sum(values: list[float]) -> None:
    parts = exact_parts(values)
    assert math.fsum(parts) == math.fsum(values)
    # ... exactly: adding any further value rounds the same way from parts as from values.
    for extra in (0.1, 1e-9, -3.0, 1e15):
        assert math.fsum([*parts, extra]) == math.fsum([*values, extra])


def _side(rng: random.Random, ids: range) -> tuple[dict[int, int], dict[int, list]]:
    units = {i: rng.choice((1, 2, 3)) for i in ids}
    rows = {i: [(rng.choice((7, 8)), rng.choice((0.1, 1e-7, 123.456, 3.3e5, 0.3)) * i, 5)]
            for i in ids if rng.random() > 0.1}
    return units, rows


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 199), max_size=6))
def test_folded_chunks_give_the_one_process_figures(seed: int, cuts: list[int]) -> None:
    rng = random.Random(seed)
    before, after = _side(rng, range(1, 200)), _side(rng, range(1, 200))
    missing = {i for i in range(1, 200) if i not in after[1]}
    whole = Partial()
    whole.compare(11, 4, before, after, missing)
    bounds = [1, *sorted(set(cuts)), 200]
    parts = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        p = Partial()
        pick = range(lo, hi)
        p.compare(11, 4, ({i: before[0][i] for i in pick}, before[1]),
                  ({i: after[0][i] for i in pick}, after[1]), missing)
        # each partial travels as JSON through the result backend
        parts.append(Partial.from_json(json.loads(json.dumps(p.compact().to_json()))))
    names = {1: "A", 2: "B", 3: "C"}
    assert figures(fold(parts), [11], names) == figures(whole.compact(), [11], names)
