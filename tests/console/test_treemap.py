"""The squarified treemap layout: areas proportional to values, inside the box, no overlap,
and boxes closer to squares than a slice layout would give."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from carbon_api.console.treemap import layout_tree, squarify


@settings(max_examples=300, derandomize=True)
@given(st.lists(st.floats(0.01, 1e6), min_size=1, max_size=30))
def test_areas_bounds_and_no_overlap(values: list[float]) -> None:
    rects = squarify([(v, i) for i, v in enumerate(values)], 0, 0, 720, 420)
    assert len(rects) == len(values)
    total = sum(values)
    for r in rects:
        assert r.w >= 0 and r.h >= 0
        assert -1e-6 <= r.x and r.x + r.w <= 720 + 1e-6
        assert -1e-6 <= r.y and r.y + r.h <= 420 + 1e-6
        expected = values[r.item] / total * 720 * 420
        assert abs(r.w * r.h - expected) <= 1e-6 * 720 * 420
    for a, b in itertools.combinations(rects, 2):
        overlap_w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
        overlap_h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
        assert overlap_w <= 1e-6 or overlap_h <= 1e-6


def test_equal_values_give_squares_and_zero_values_are_left_out() -> None:
    rects = squarify([(1.0, "a"), (1.0, "b"), (1.0, "c"), (1.0, "d"), (0.0, "zero")],
                     0, 0, 100, 100)
    assert [r.item for r in rects] == ["a", "b", "c", "d"]
    assert all(abs(r.w - 50) < 1e-9 and abs(r.h - 50) < 1e-9 for r in rects)


def test_tree_layout_nests_children_inside_their_parent() -> None:
    tree = [{"kg": 10.0, "children": [{"kg": 6.0, "children": []}, {"kg": 4.0, "children": []}]},
            {"kg": 5.0, "children": []}]
    laid = layout_tree(tree, 300, 200, depth=2)
    parent = next(r for r, level in laid if level == 0 and r.item["kg"] == 10.0)
    kids = [r for r, level in laid if level == 1]
    assert len(kids) == 2
    for k in kids:
        assert parent.x <= k.x and k.x + k.w <= parent.x + parent.w + 1e-9
        assert parent.y <= k.y and k.y + k.h <= parent.y + parent.h + 1e-9
