"""Module/report stats and read-time rollups (docs/design.md §2, seed 000's decision record).

Floats: stats sum rounded values with fsum and set total = scope1 + scope2 + scope3, so that
equality is exact; everything else is compared with a tight tolerance (see stats.py).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_domain.catalog import ModuleType
from carbon_domain.emission_types import STORABLE, EmissionType, roots
from carbon_domain.stats import (
    FORMULA_VERSION,
    module_rollup_tree,
    module_stats,
    report_stats,
    rollup,
    rollup_tree,
)

E = EmissionType
AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def approx(x: float) -> Any:
    return pytest.approx(x, rel=1e-9, abs=1e-9)


# One member's rows: a factor leaf each under food, waste and commuting.
MEMBER = {
    E.food__vegetarian: 412.5,
    E.waste__incineration: 10.0,
    E.waste__recycling__paper: 3.2,
    E.commuting__car: 250.125,
}
# One office's four room rows (heating_thermal is scope 1, the rest scope 2), plus the
# embodied energy row of its building.
ROOM = {
    E.buildings__rooms__lighting__office: 120.0,
    E.buildings__rooms__cooling__office: 80.5,
    E.buildings__rooms__ventilation__office: 40.25,
    E.buildings__rooms__heating_thermal__office: 300.0,
}
BUILDINGS = {**ROOM, E.buildings__construction_and_renovation: 1000.0}


class TestModuleStats:
    def test_headcount_example(self) -> None:
        s = module_stats({int(k): v for k, v in MEMBER.items()}, 1, 0, AT)
        assert s == {
            "scope1": 0.0,
            "scope2": 0.0,
            "scope3": approx(675.825),
            "total": approx(675.825),
            "by_emission_type": {
                "10001": 412.5, "20001": 10.0, "2000401": 3.2, "30005": 250.125,
            },
            "entry_count": 1,
            "missing_factors": 0,
            "computed_at": "2025-03-01T12:00:00.000000Z",
            "formula_version": FORMULA_VERSION,
        }

    def test_buildings_example_counts_embodied_energy_once(self) -> None:
        s = module_stats({int(k): v for k, v in BUILDINGS.items()}, 2, 1, AT)
        assert s["scope1"] == 300.0
        assert s["scope2"] == 240.75
        # The system we replace listed 60300 twice and reported 2000 here.
        assert s["scope3"] == 1000.0
        assert s["total"] == 1540.75
        assert s["by_emission_type"]["60300"] == 1000.0
        assert len(s["by_emission_type"]) == 5
        assert (s["entry_count"], s["missing_factors"]) == (2, 1)

    def test_no_rollup_entries_are_added(self) -> None:
        s = module_stats({int(k): v for k, v in ROOM.items()}, 1, 0, AT)
        assert set(s["by_emission_type"]) == {str(int(k)) for k in ROOM}

    def test_row_on_a_scoped_internal_node_counts_in_its_scope(self) -> None:
        s = module_stats({60200: 50.0, 60201: 100.0}, 2, 0, AT)
        assert (s["scope1"], s["total"]) == (150.0, 150.0)
        assert s["by_emission_type"] == {"60200": 50.0, "60201": 100.0}

    def test_zeros_are_left_out(self) -> None:
        s = module_stats({30001: 0.0, 30002: -0.0, 30005: 1e-9, 30004: 2.0}, 3, 0, AT)
        assert s["by_emission_type"] == {"30004": 2.0}

    def test_values_are_rounded_to_six_decimals(self) -> None:
        s = module_stats({80100: 1.23456789}, 1, 0, AT)
        assert s["by_emission_type"] == {"80100": 1.234568}
        assert s["scope2"] == s["total"] == 1.234568

    def test_string_keys_from_json_are_accepted(self) -> None:
        assert module_stats({"80100": 2.0}, 1, 0, AT)["by_emission_type"] == {"80100": 2.0}

    @pytest.mark.parametrize("type_id", [60100, 60000, 50200, 110200, 80000])
    def test_scopeless_type_raises(self, type_id: int) -> None:
        with pytest.raises(ValueError, match="no scope"):
            module_stats({type_id: 1.0}, 1, 0, AT)

    @pytest.mark.parametrize("type_id", [40000, 1, 60106])
    def test_unknown_type_raises(self, type_id: int) -> None:
        with pytest.raises(ValueError, match="unknown emission type"):
            module_stats({type_id: 1.0}, 1, 0, AT)

    @pytest.mark.parametrize("kg", [math.nan, math.inf, -math.inf])
    def test_non_finite_kg_raises(self, kg: float) -> None:
        with pytest.raises(ValueError, match="not finite"):
            module_stats({80100: kg}, 1, 0, AT)

    def test_negative_counts_raise(self) -> None:
        with pytest.raises(ValueError):
            module_stats({}, -1, 0, AT)
        with pytest.raises(ValueError):
            module_stats({}, 0, -1, AT)

    def test_empty_module(self) -> None:
        s = module_stats({}, 0, 0, AT)
        assert (s["scope1"], s["scope2"], s["scope3"], s["total"]) == (0.0, 0.0, 0.0, 0.0)
        assert s["by_emission_type"] == {}

    def test_computed_at_is_iso_utc(self) -> None:
        cet = timezone(timedelta(hours=1))
        s = module_stats({}, 0, 0, datetime(2025, 3, 1, 13, 0, tzinfo=cet))
        assert s["computed_at"] == "2025-03-01T12:00:00.000000Z"
        assert datetime.fromisoformat(s["computed_at"]) == AT

    def test_computed_at_defaults_to_now(self) -> None:
        before = datetime.now(UTC)
        at = datetime.fromisoformat(module_stats({}, 0, 0)["computed_at"])
        assert before <= at <= datetime.now(UTC)

    def test_naive_computed_at_raises(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            module_stats({}, 0, 0, datetime(2025, 3, 1, 12, 0))


class TestReportStats:
    def test_report_is_the_sum_of_its_modules(self) -> None:
        head = module_stats({int(k): v for k, v in MEMBER.items()}, 3, 1, AT)
        build = module_stats({int(k): v for k, v in BUILDINGS.items()}, 2, 0, AT)
        r = report_stats([head, build, None], AT)
        assert r["scope1"] == 300.0
        assert r["scope2"] == 240.75
        assert r["scope3"] == approx(1675.825)
        assert r["total"] == approx(2216.575)
        assert r["by_emission_type"] == {**head["by_emission_type"], **build["by_emission_type"]}
        assert (r["entry_count"], r["missing_factors"]) == (5, 1)
        assert r["computed_at"] == "2025-03-01T12:00:00.000000Z"
        assert r["formula_version"] == FORMULA_VERSION

    def test_shared_types_are_added(self) -> None:
        a = module_stats({80200: 1.5}, 1, 0, AT)
        b = module_stats({80200: 2.25, 80100: 1.0}, 2, 0, AT)
        r = report_stats([a, b], AT)
        assert r["by_emission_type"] == {"80100": 1.0, "80200": 3.75}
        assert r["scope2"] == r["total"] == 4.75

    def test_empty_report(self) -> None:
        r = report_stats([], AT)
        assert (r["total"], r["by_emission_type"], r["entry_count"]) == (0.0, {}, 0)

    def test_legacy_rollup_entry_raises(self) -> None:
        legacy = {"by_emission_type": {"60100": 10.0, "60101": 10.0}, "entry_count": 1}
        with pytest.raises(ValueError, match="no scope"):
            report_stats([legacy], AT)


class TestRollup:
    BY = {"60200": 50.0, "60201": 100.0, "60204": 25.0, "60300": 7.0, "6010101": 3.0}

    def test_scoped_internal_node_sums_its_own_value_and_its_leaves(self) -> None:
        assert rollup(self.BY, E.buildings__combustion) == 175.0

    def test_root_and_grouping_nodes(self) -> None:
        assert rollup(self.BY, E.buildings) == 185.0
        assert rollup(self.BY, E.buildings__rooms) == 3.0
        assert rollup(self.BY, E.buildings__rooms__lighting) == 3.0
        assert rollup(self.BY, E.equipment) == 0.0

    def test_leaf_is_its_own_value(self) -> None:
        assert rollup(self.BY, 60201) == 100.0
        assert rollup(self.BY, 60202) == 0.0

    def test_int_keys_work_too(self) -> None:
        assert rollup({60200: 50.0, 60201: 1.0}, 60200) == 51.0

    def test_unknown_node_raises(self) -> None:
        with pytest.raises(ValueError, match="unknown emission type"):
            rollup(self.BY, 40000)

    def test_scopeless_stored_type_raises(self) -> None:
        with pytest.raises(ValueError, match="no scope"):
            rollup({"60100": 5.0}, 60000)


class TestRollupTree:
    def test_buildings_module_tree(self) -> None:
        by = {"60200": 50.0, "60201": 100.0, "60300": 7.0, "6010101": 3.0}
        [tree] = module_rollup_tree(ModuleType.buildings, by)
        assert tree == {
            "value": 60000, "path": "buildings", "scope": None, "kg": 160.0, "own_kg": 0.0,
            "children": [
                {"value": 60100, "path": "buildings__rooms", "scope": None, "kg": 3.0,
                 "own_kg": 0.0, "children": [
                     {"value": 60101, "path": "buildings__rooms__lighting", "scope": 2,
                      "kg": 3.0, "own_kg": 0.0, "children": [
                          {"value": 6010101, "path": "buildings__rooms__lighting__office",
                           "scope": 2, "kg": 3.0, "own_kg": 3.0, "children": []},
                      ]},
                 ]},
                {"value": 60200, "path": "buildings__combustion", "scope": 1, "kg": 150.0,
                 "own_kg": 50.0, "children": [
                     {"value": 60201, "path": "buildings__combustion__natural_gas",
                      "scope": 1, "kg": 100.0, "own_kg": 100.0, "children": []},
                 ]},
                {"value": 60300, "path": "buildings__construction_and_renovation",
                 "scope": 3, "kg": 7.0, "own_kg": 7.0, "children": []},
            ],
        }

    def test_headcount_module_has_three_roots_and_omits_empty_ones(self) -> None:
        by = {"10001": 1.0, "30005": 2.0}
        assert [t["path"] for t in module_rollup_tree(1, by)] == ["food", "commuting"]
        full = module_rollup_tree(1, by, include_zero=True)
        assert [t["path"] for t in full] == ["food", "waste", "commuting"]

    def test_include_zero_gives_the_full_tree(self) -> None:
        trees = rollup_tree({}, roots(), include_zero=True)

        def count(t: dict[str, Any]) -> int:
            return 1 + sum(count(c) for c in t["children"])

        assert sum(count(t) for t in trees) == len(EmissionType)
        assert all(t["kg"] == 0.0 for t in trees)

    def test_empty_stats_give_an_empty_tree(self) -> None:
        assert rollup_tree({}, roots()) == []
        assert module_rollup_tree(ModuleType.purchase, {}) == []


# --- properties -------------------------------------------------------------------------

kg_values = st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)
by_type = st.dictionaries(st.sampled_from(sorted(STORABLE)), kg_values, max_size=40)
scopeless = sorted(int(m) for m in EmissionType if m.scope is None)


def _walk(trees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for t in trees for n in (t, *_walk(t["children"]))]


@given(by_type)
def test_total_equals_scopes_equals_sum_of_types(kg: dict[int, float]) -> None:
    s = module_stats(kg, len(kg), 0, AT)
    assert s["total"] == s["scope1"] + s["scope2"] + s["scope3"]
    assert math.fsum(s["by_emission_type"].values()) == approx(s["total"])
    assert min((s["scope1"], s["scope2"], s["scope3"])) >= 0.0


@given(by_type)
def test_rollup_of_all_roots_is_the_total(kg: dict[int, float]) -> None:
    s = module_stats(kg, len(kg), 0, AT)
    assert math.fsum(rollup(s["by_emission_type"], r) for r in roots()) == approx(s["total"])


@given(by_type, st.sampled_from(list(EmissionType)))
def test_rollup_is_own_value_plus_children(kg: dict[int, float], node: EmissionType) -> None:
    own = kg.get(int(node), 0.0)
    expected = own + math.fsum(rollup(kg, c) for c in node.children())
    assert rollup(kg, node) == approx(expected)


@given(by_type)
def test_tree_nodes_match_rollup(kg: dict[int, float]) -> None:
    nodes = _walk(rollup_tree(kg, roots()))
    for n in nodes:
        assert n["kg"] == approx(rollup(kg, n["value"]))
        assert n["kg"] > 0.0
    # Every stored non-zero type shows up in the tree.
    assert {n["value"] for n in nodes} >= {t for t, v in kg.items() if v > 0.0}


@given(st.lists(by_type, max_size=5))
def test_report_equals_stats_of_all_rows_together(modules: list[dict[int, float]]) -> None:
    # Report = sum of module stats; compared against one module holding every row.
    report = report_stats([module_stats(m, 1, 0, AT) for m in modules], AT)
    merged: dict[int, float] = {}
    for m in modules:
        for t, v in m.items():
            merged[t] = merged.get(t, 0.0) + round(v, 6)
    whole = module_stats(merged, len(modules), 0, AT)
    assert report["total"] == approx(whole["total"])
    assert report["entry_count"] == len(modules)
    assert report["total"] == report["scope1"] + report["scope2"] + report["scope3"]


@given(by_type, st.sampled_from(scopeless))
def test_any_scopeless_type_raises(kg: dict[int, float], bad: int) -> None:
    with pytest.raises(ValueError, match="no scope"):
        module_stats({**kg, bad: 1.0}, 1, 0, AT)
