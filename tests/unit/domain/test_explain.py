"""The explain hook (carbon_domain/explain.py): every formula template, substituted with the
entry's and the factor's numbers, evaluates to exactly the kg the engine computed; the
reason for no row distinguishes a retired factor from no factor and from bad data."""

from __future__ import annotations

import ast
import csv
import math
import operator
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.catalog import ModuleType
from carbon_domain.csv_rows import parse_factor_row
from carbon_domain.csv_rows.entries import parse_entry_row
from carbon_domain.csv_rows.fields import RowError
from carbon_domain.engine import compute_batch
from carbon_domain.explain import (
    NO_MATCHING_FACTOR,
    RETIRED_FACTOR,
    UNRESOLVABLE_TYPE,
    explain_entry,
    number_text,
)
from carbon_domain.matching import FactorIndex, FactorRecord
from carbon_domain.reference import ReferenceData
from carbon_domain.seed.generator import generate

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv}


def evaluate(expr: str) -> float:
    def ev(n: ast.AST) -> float:
        if isinstance(n, ast.BinOp):
            return _OPS[type(n.op)](ev(n.left), ev(n.right))
        assert isinstance(n, ast.Constant), f"not a number in {expr!r}: {ast.dump(n)}"
        return float(n.value)
    return ev(ast.parse(expr.replace("×", "*"), mode="eval").body)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small synthetic university (every type), parsed as the ingest would parse it."""
    m = generate(tmp_path_factory.mktemp("seed"), units=6, entries=3000, year=2025)
    rooms = [(r["building_name"], r["room_name"], r["room_type"],
              float(r["room_surface_square_meter"]))
             for f in m.files if f.kind == "building-rooms" for r in _rows(m.path_of(f))]
    refs = ReferenceData.build(rooms=rooms)
    factors: dict[int, list[FactorRecord]] = defaultdict(list)
    entries: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for f in m.files:
        if f.kind == "factors":
            for r in _rows(m.path_of(f)):
                try:
                    p = parse_factor_row(ModuleType(f.module), f.det and D(f.det), r)
                except RowError:
                    continue
                recs = factors[p.det]
                recs.append(FactorRecord(len(recs) + 1, p.emission_type_id, p.classification,
                                         p.values))
        elif f.kind == "data-entries":
            for r in _rows(m.path_of(f)):
                try:
                    e = parse_entry_row(ModuleType(f.module), f.det and D(f.det), r, refs=refs)
                except RowError:
                    continue
                entries[e.det].append(e.data)
    return {"refs": refs, "factors": factors, "entries": entries}


def test_every_formula_reproduces_the_engine(seeded: dict[str, Any]) -> None:
    refs, checked = seeded["refs"], Counter()
    for det, datas in seeded["entries"].items():
        index = FactorIndex(det, seeded["factors"][det], year=2025)
        batch = compute_batch(det, list(enumerate(datas)), index, refs)
        by_entry: dict[int, list[Any]] = defaultdict(list)
        for row in batch.rows:
            by_entry[row[0]].append(row)
        for i, data in enumerate(datas[:60]):
            ex = explain_entry(det, i, data, index, refs)
            # the engine's own rows, annotated: nothing recomputed differently
            assert [(r.emission_type_id, r.kg_co2eq, r.factor_id) for r in ex.rows] == [
                (row[1], row[3], row[5]) for row in by_entry[i]]
            for r in ex.rows:
                assert math.isclose(evaluate(r.substituted), r.kg_co2eq, rel_tol=1e-12,
                                    abs_tol=1e-12), (D(det).name, r.formula, r.substituted)
                assert r.factor_id is None or r.factor_id in ex.factors
                checked[D(det).name] += 1
            if not ex.rows:
                assert ex.reason_kind and ex.reason
    # Every type whose seed computes rows was checked (facilities need a facility report).
    assert set(checked) >= {d.name for d in D} - {"research_facilities",
                                                 "mice_and_fish_animal_facilities"}, checked


def test_facility_formulas(seeded: dict[str, Any]) -> None:
    refs = seeded["refs"]
    cases = [
        (D.research_facilities, {"researchfacility_id": "F1", "use_unit": "h"},
         {"use_unit": "h", "total_use": 400.0, "kg_co2eq_sum": 1234.5}, {"use": 30.0}),
        (D.mice_and_fish_animal_facilities,
         {"researchfacility_id": "F1", "researchfacility_type": "mice"},
         {"total_use": 80.0, "processemissions_share": 0.25, "kg_co2eq_sum_processemissions": 100.0,
          "building_rooms_share": 0.5, "kg_co2eq_sum_building_rooms": 42.0}, {"use": 12.0}),
    ]
    expected = {D.research_facilities: (30 / 400 * 1234.5, "30 / 400 × 1234.5"),
                D.mice_and_fish_animal_facilities: (
                    12 * 0.25 / 80 * 100 + 12 * 0.5 / 80 * 42,
                    "0 + 12 × 0.25 / 80 × 100 + 12 × 0.5 / 80 × 42")}
    for det, cls, values, data in cases:
        et = 100100 if det == D.research_facilities else 10020001
        index = FactorIndex(det, [FactorRecord(7, et, cls, values)], year=2025)
        ex = explain_entry(det, 1, {**cls, **data}, index, refs)
        assert len(ex.rows) == 1, ex
        kg, text = expected[det]
        assert ex.rows[0].kg_co2eq == pytest.approx(kg, rel=1e-12)
        assert ex.rows[0].substituted == text
        assert math.isclose(evaluate(text), ex.rows[0].kg_co2eq, rel_tol=1e-12)


def test_headcount_is_one_formula_per_factor(refs: ReferenceData, factor: Any) -> None:
    fs = [factor(D.member, 1, headcount_category="food", headcount_class="vegetarian",
                 number_of_unit_per_fte=100, ef_kg_co2eq_per_unit=1.5),
          factor(D.member, 2, headcount_category="commuting",
                 headcount_class="public_transport", number_of_unit_per_fte=200,
                 ef_kg_co2eq_per_unit=0.2)]
    ex = explain_entry(D.member, 1, {"fte": 0.5}, FactorIndex(D.member, fs, year=2024), refs)
    assert ex.strategy == "B" and [r.substituted for r in ex.rows] == [
        "0.5 × 100 × 1.5", "0.5 × 200 × 0.2"]
    assert [r.kg_co2eq for r in ex.rows] == [75.0, 20.0]
    assert ex.rows[0].inputs == {"fte": 0.5, "number_of_unit_per_fte": 100.0,
                                 "ef_kg_co2eq_per_unit": 1.5}


def test_reasons_for_no_row(refs: ReferenceData, factor: Any) -> None:
    laptop = factor(D.it, 3, equipment_class="Laptop", sub_class="Standard", active_power_w=100,
                    standby_power_w=10, ef_kg_co2eq_per_kwh=0.1)
    data = {"equipment_class": "Laptop", "sub_class": "Standard",
            "active_usage_hours_per_week": 40, "standby_usage_hours_per_week": 128}
    live = FactorIndex(D.it, [], year=2024)
    retired = FactorIndex(D.it, [laptop], year=2024)
    ex = explain_entry(D.it, 1, data, live, refs, retired)
    assert ex.rows == [] and ex.reason_kind == RETIRED_FACTOR and "3" in (ex.reason or "")
    ex = explain_entry(D.it, 1, data, live, refs, FactorIndex(D.it, [], year=2024))
    assert ex.reason_kind == NO_MATCHING_FACTOR and "Laptop" in (ex.reason or "")
    ex = explain_entry(D.it, 1, {"sub_class": "x"}, FactorIndex(D.it, [laptop], year=2024), refs)
    assert ex.reason_kind in (UNRESOLVABLE_TYPE, NO_MATCHING_FACTOR)
    found = explain_entry(D.it, 1, data, FactorIndex(D.it, [laptop], year=2024), refs)
    assert found.reason_kind is None and found.rows[0].substituted == \
        "(40 × 100 + 128 × 10) × 52 / 1000 × 0.1"


def test_number_text_round_trips() -> None:
    for x in (0.1, 1 / 3, 2.0, 1e-7, 123456789.125, 5):
        assert float(number_text(x)) == x
    assert number_text(2.0) == "2" and number_text(0.5) == "0.5"
