"""The engine's fast paths give exactly the row engine's result (``compute_batch_rows``):
the same rows with every float bit for bit, the same errors, misses and their reasons, the
same relinks, in the same order — on random entries of every fast type, ordinary or not
(missing fields, unknown factors, overrides, odd units, NaN / inf / huge / negative numbers,
strings where numbers are expected, unhashable match keys), against random factors."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbon_domain import engine_fast, engine_travel
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.emission_types import EmissionType as E
from carbon_domain.engine import LINK_KEY, BatchResult, compute_batch, compute_batch_rows
from carbon_domain.engine_fast import FAST_PATHS
from carbon_domain.matching import FactorIndex, FactorRecord
from carbon_domain.reference import ReferenceData

YEAR = 2024
REFS = ReferenceData.default()
EQUIPMENT = (D.scientific, D.it, D.other)
PURCHASES = (D.scientific_equipment, D.it_equipment, D.consumable_accessories,
             D.biological_chemical_gaseous_product, D.services, D.vehicles, D.other_purchases)
HEADCOUNT = (D.member, D.student)
TRAVEL = (D.plane, D.train)
HEADCOUNT_TYPES = [int(t) for root in (E.food, E.waste, E.commuting)
                   for t in root.subtree_leaves()]

# -- values an entry or a factor may hold ----------------------------------------------------
odd_floats = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.0, 1e308, -1.0, 5e-324,
                              168.0, 168.00000000000003, 1e6, 1e6 + 1])
numbers = (st.floats(min_value=0, max_value=200) | st.integers(0, 200) | odd_floats
           | st.floats() | st.integers(min_value=-(10**30), max_value=10**400))
numeric_text = st.sampled_from(["12", " 3.5 ", "nan", "inf", "-1", "1e400", "abc", "", "0x10",
                                "1_000", "٣"])
wild = (st.none() | numbers | numeric_text | st.booleans() | st.text(max_size=6)
        | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=2),
                                                                 st.integers(), max_size=1))


# FactorIndex converts headcount factor numbers itself and raises on an int beyond the float
# range (a factor file gives floats): no such ints there.
wild_headcount_factor = (st.none() | odd_floats | numeric_text | st.floats() | st.booleans()
                         | st.text(max_size=4))


def maybe(strategy: st.SearchStrategy[Any], p_wild: float = 0.15,
          odd: st.SearchStrategy[Any] = wild) -> st.SearchStrategy[Any]:
    """Mostly ``strategy`` (the fast path's case), sometimes anything (the row engine's)."""
    return st.integers(0, 99).flatmap(lambda r: odd if r < p_wild * 100 else strategy)


# -- factors ---------------------------------------------------------------------------------
CLASSES = ["Laptop", "Desktop", "Microscope"]
SUBS = [None, "Standard", "Large"]
factor_number = maybe(st.floats(min_value=0, max_value=2000) | st.integers(0, 2000), 0.1)


@st.composite
def equipment_factors(draw: st.DrawFn) -> list[FactorRecord]:
    out = []
    for fid, (c, s) in enumerate(draw(st.lists(st.tuples(st.sampled_from(CLASSES),
                                                         st.sampled_from(SUBS)),
                                               max_size=6)), start=1):
        values = {k: draw(factor_number) for k in
                  draw(st.sets(st.sampled_from(["active_power_w", "ef_kg_co2eq_per_kwh",
                                                "standby_power_w",
                                                "active_usage_hours_per_week",
                                                "standby_usage_hours_per_week"])))}
        out.append(FactorRecord(fid, int(E.equipment__it),
                                {"equipment_class": c, "sub_class": s}, values))
    return out


@st.composite
def purchase_factors(draw: st.DrawFn) -> list[FactorRecord]:
    out = []
    for fid in range(1, draw(st.integers(0, 8)) + 1):
        values: dict[str, Any] = {}
        if draw(st.integers(0, 9)):
            values["ef_kg_co2eq_per_currency"] = draw(factor_number)
        values["currency"] = draw(st.sampled_from([None, "eur", "chf", "USD", "xyz", ""]))
        out.append(FactorRecord(fid, int(E.purchases__it_equipment), {
            "purchase_institutional_code": draw(st.sampled_from(["100", "200", None])),
            "purchase_additional_code": draw(st.sampled_from([None, "A1", "A2"]))}, values))
    return out


@st.composite
def headcount_factors(draw: st.DrawFn) -> list[FactorRecord]:
    return [FactorRecord(fid, draw(st.sampled_from(HEADCOUNT_TYPES)), {}, {
        "number_of_unit_per_fte": draw(maybe(st.floats(0, 4000), 0.05, wild_headcount_factor)),
        "ef_kg_co2eq_per_unit": draw(maybe(st.floats(0, 2), 0.05, wild_headcount_factor))})
        for fid in range(1, draw(st.integers(0, 5)) + 1)]


# -- entries ---------------------------------------------------------------------------------
def key_value(choices: list[Any]) -> st.SearchStrategy[Any]:
    variants = [v for c in choices if c for v in (c.lower(), f" {c.upper()} ")]
    return maybe(st.sampled_from([*choices, *variants, "Unknown"]), 0.1)


def common(draw: st.DrawFn, data: dict[str, Any]) -> dict[str, Any]:
    if draw(st.integers(0, 9)) == 0:
        data[OVERRIDE_KEY] = draw(wild)
    if draw(st.integers(0, 2)) == 0:
        data[LINK_KEY] = draw(st.integers(0, 9) | wild)
    if draw(st.integers(0, 19)) == 0:
        data.pop(draw(st.sampled_from(sorted(data) or ["x"])), None)
    return data


@st.composite
def equipment_entry(draw: st.DrawFn) -> dict[str, Any]:
    hours = maybe(st.floats(0, 100) | st.integers(0, 100) | st.none())
    return common(draw, {"equipment_class": draw(key_value(CLASSES)),
                         "sub_class": draw(key_value(SUBS)),
                         "active_usage_hours_per_week": draw(hours),
                         "standby_usage_hours_per_week": draw(hours)})


@st.composite
def purchase_entry(draw: st.DrawFn) -> dict[str, Any]:
    return common(draw, {
        "purchase_institutional_code": draw(key_value(["100", "200"])),
        "purchase_additional_code": draw(key_value([None, "A1", "A2"])),
        "total_spent_amount": draw(maybe(st.floats(0, 1e6) | st.integers(0, 10**6))),
        "currency": draw(maybe(st.sampled_from(["chf", "eur", "USD", " gbp", "xyz", None, ""])))})


@st.composite
def headcount_entry(draw: st.DrawFn) -> dict[str, Any]:
    return common(draw, {"fte": draw(maybe(st.floats(0, 2) | st.integers(0, 3)))})


CABINS = ["economy", "Business", " first ", "eco", "2nd", "1", "second", "premium", None]
AIRPORTS = ["GVA", "zrh", " LHR ", "JFK", "CDG", "NRT", "XXX"]
STATIONS = [("Geneva", "CH"), ("lausanne", None), ("Bern", "ch"), ("Paris", "FR"),
            ("Milano Centrale", "IT"), ("Paris", None), ("Atlantis", "CH")]
trips = maybe(st.none() | st.integers(1, 20) | st.floats(1, 50)
              | st.sampled_from([0.5, 1.0, 1e300, 1e301, 10**400]))


@st.composite
def plane_factors(draw: st.DrawFn) -> list[FactorRecord]:
    out = []
    for fid in range(1, draw(st.integers(0, 8)) + 1):
        lo = draw(st.sampled_from([0.0, 500.0, 1500.0, 3700.0]))
        values: dict[str, Any] = {"ef_kg_co2eq_per_km": draw(factor_number),
                                  "min_distance": lo,
                                  "max_distance": draw(st.sampled_from([lo + 1000, 1e9, None]))}
        if draw(st.booleans()):
            values["rfi_adjustment"] = draw(maybe(st.floats(1, 3), 0.1))
        out.append(FactorRecord(fid, int(E.professional_travel__plane__eco),
                                {"cabin_class": draw(st.sampled_from(CABINS[:4]))}, values))
    return out


@st.composite
def train_factors(draw: st.DrawFn) -> list[FactorRecord]:
    return [FactorRecord(fid, int(E.professional_travel__train__class_2),
                         {"country_code": draw(st.sampled_from(["CH", "fr", "IT", "RoW",
                                                                "row", "DE", "x"]))},
                         {"ef_kg_co2eq_per_km": draw(factor_number)})
            for fid in range(1, draw(st.integers(0, 6)) + 1)]


@st.composite
def plane_entry(draw: st.DrawFn) -> dict[str, Any]:
    data = {"origin_iata": draw(maybe(st.sampled_from(AIRPORTS), 0.1)),
            "destination_iata": draw(maybe(st.sampled_from(AIRPORTS), 0.1)),
            "cabin_class": draw(maybe(st.sampled_from(CABINS), 0.1))}
    if draw(st.integers(0, 3)):
        data["number_of_trips"] = draw(trips)
    return common(draw, data)


@st.composite
def train_entry(draw: st.DrawFn) -> dict[str, Any]:
    (o, oc), (d, dc) = draw(st.sampled_from(STATIONS)), draw(st.sampled_from(STATIONS))
    data = {"origin_name": draw(maybe(st.just(o), 0.1)),
            "destination_name": draw(maybe(st.just(d), 0.1)),
            "origin_country_code": draw(maybe(st.just(oc), 0.1)),
            "destination_country_code": draw(maybe(st.just(dc), 0.1)),
            "cabin_class": draw(maybe(st.sampled_from(CABINS), 0.1))}
    if draw(st.integers(0, 3)):
        data["number_of_trips"] = draw(trips)
    return common(draw, data)


KINDS = {det: (equipment_factors(), equipment_entry()) for det in EQUIPMENT}
KINDS.update({det: (purchase_factors(), purchase_entry()) for det in PURCHASES})
KINDS.update({det: (headcount_factors(), headcount_entry()) for det in HEADCOUNT})
KINDS.update({D.plane: (plane_factors(), plane_entry()), D.train: (train_factors(), train_entry())})


def bits(v: Any) -> Any:
    """A value with its floats as their bytes, so == compares bit for bit (-0.0 ≠ 0.0, and
    a NaN equals itself)."""
    if isinstance(v, float):
        return ("f", struct.pack("<d", v))
    if isinstance(v, tuple | list):
        return (type(v).__name__, [bits(x) for x in v])
    return (type(v).__name__, v)


def as_compared(res: BatchResult) -> dict[str, Any]:
    return {"rows": bits(res.rows), "relinked": list(res.relinked.items()),
            "errors": res.errors, "missing": res.missing,
            "missing_reasons": list(res.missing_reasons.items()), "entries": res.entries}


def test_every_simple_type_has_its_fast_path() -> None:
    assert set(FAST_PATHS) == {int(d) for d in (*EQUIPMENT, *PURCHASES, *HEADCOUNT, *TRAVEL)}


@pytest.mark.parametrize("det", sorted(KINDS), ids=lambda d: D(d).name)
@settings(max_examples=60, derandomize=True, deadline=None)
@given(data=st.data())
def test_fast_path_equals_the_row_engine(det: int, data: st.DataObject) -> None:
    factor_strategy, entry_strategy = KINDS[det]
    factors = data.draw(factor_strategy)
    entries = list(enumerate(data.draw(st.lists(entry_strategy, max_size=30)), start=1))
    fast = FAST_PATHS[det](det, entries, FactorIndex(det, factors, year=YEAR), REFS)
    reference = compute_batch_rows(det, entries, FactorIndex(det, factors, year=YEAR), REFS)
    assert as_compared(fast) == as_compared(reference)
    # Chunk by chunk on one index, as a worker does (the fast path's plans outlive a chunk).
    index, ref_index = (FactorIndex(det, factors, year=YEAR) for _ in range(2))
    for chunk in (entries[:10], entries[10:20], entries[:10], entries[20:]):
        via_dispatch = compute_batch(det, iter(chunk), index, REFS)
        assert as_compared(via_dispatch) == as_compared(
            compute_batch_rows(det, chunk, ref_index, REFS))


def _ordinary_case(det: int) -> tuple[list[FactorRecord], list[tuple[int, dict[str, Any]]]]:
    if det in EQUIPMENT:
        f = [FactorRecord(7, int(E.equipment__it), {"equipment_class": "Laptop",
                                                    "sub_class": None},
                          {"active_power_w": 30.0, "ef_kg_co2eq_per_kwh": 0.125,
                           "standby_power_w": 2.0})]
        return f, [(i, {"equipment_class": "Laptop", "sub_class": "x",
                        "active_usage_hours_per_week": i, "standby_usage_hours_per_week": 1.5,
                        LINK_KEY: 7 if i % 2 else None}) for i in range(1, 50)]
    if det in PURCHASES:
        f = [FactorRecord(3, int(E.purchases__it_equipment),
                          {"purchase_institutional_code": "100"},
                          {"ef_kg_co2eq_per_currency": 0.4, "currency": "eur"})]
        return f, [(i, {"purchase_institutional_code": "100" if i % 5 else "999",
                        "total_spent_amount": 10.5 * i, "currency": "chf"})
                   for i in range(1, 50)]
    if det == D.plane:
        f = [FactorRecord(1, int(E.professional_travel__plane__eco), {"cabin_class": "economy"},
                          {"ef_kg_co2eq_per_km": 0.15, "rfi_adjustment": 2.0})]
        return f, [(i, {"origin_iata": "GVA", "destination_iata": ["LHR", "JFK"][i % 2],
                        "cabin_class": "Economy", "number_of_trips": i}) for i in range(1, 50)]
    if det == D.train:
        f = [FactorRecord(1, int(E.professional_travel__train__class_2), {"country_code": "CH"},
                          {"ef_kg_co2eq_per_km": 0.008}),
             FactorRecord(2, int(E.professional_travel__train__class_2), {"country_code": "FR"},
                          {"ef_kg_co2eq_per_km": 0.004})]
        return f, [(i, {"origin_name": "Geneva", "origin_country_code": "CH",
                        "destination_name": ["Bern", "Paris"][i % 2],
                        "destination_country_code": ["CH", "FR"][i % 2],
                        "cabin_class": "2nd", "number_of_trips": 1.5 * i}) for i in range(1, 50)]
    f = [FactorRecord(i, t, {}, {"number_of_unit_per_fte": 10.0 * i,
                                 "ef_kg_co2eq_per_unit": 0.1})
         for i, t in enumerate(HEADCOUNT_TYPES[:24], start=1)]
    return f, [(i, {"fte": i / 50}) for i in range(1, 50)]


@pytest.mark.parametrize("det", sorted(KINDS), ids=lambda d: D(d).name)
def test_ordinary_entries_never_reach_the_row_engine(det: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Otherwise the property above would hold trivially."""
    factors, entries = _ordinary_case(det)
    reference = compute_batch_rows(det, entries, FactorIndex(det, factors, year=YEAR), REFS)
    slow: list[Any] = []
    for module in (engine_fast, engine_travel):
        monkeypatch.setattr(module, "compute_into", lambda *a: slow.append(a))
    fast = FAST_PATHS[det](det, entries, FactorIndex(det, factors, year=YEAR), REFS)
    assert slow == []
    assert reference.rows and not reference.errors
    assert as_compared(fast) == as_compared(reference)


def test_a_factor_value_that_raises_is_reported_as_the_row_engine_does() -> None:
    """Found by the property above: a factor without power or EF whose standby power is an
    int beyond the float range. The handler converts all five numbers first, so its entries
    are errors (OverflowError), not misses; the fast path must not decide on the first two."""
    huge = 10**400
    cases: dict[int, list[FactorRecord]] = {
        D.it: [FactorRecord(2, int(E.equipment__it), {"equipment_class": "Desktop",
                                                       "sub_class": None},
                            {"standby_power_w": huge})],
        D.services: [FactorRecord(2, int(E.purchases__services),
                                  {"purchase_institutional_code": "100"},
                                  {"ef_kg_co2eq_per_currency": huge})]}
    entries = {D.it: [(1, {"equipment_class": "Desktop", "sub_class": None})],
               D.services: [(1, {"purchase_institutional_code": "100",
                                 "total_spent_amount": 5.0})]}
    for det, factors in cases.items():
        fast = FAST_PATHS[det](det, entries[det], FactorIndex(det, factors, year=YEAR), REFS)
        reference = compute_batch_rows(det, entries[det], FactorIndex(det, factors, year=YEAR),
                                       REFS)
        assert [reason for _, reason in reference.errors] == [
            "OverflowError: int too large to convert to float"]
        assert as_compared(fast) == as_compared(reference)
