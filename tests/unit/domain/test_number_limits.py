"""The magnitude limits of numbers (``carbon_domain/numbers.py``, docs/uploads.md#number-limits):
every number of every upload kind has one; a value at a limit is accepted and one beyond it
refused with a reason naming the column, the value and the limit; values within the limits
parse and compute exactly as before; and with every number at its limit no kg can come near
a double's range, which is why the limits are what they are.

Before: every number column but a few (hours per week, fractions) accepted any finite value:
1e308 CHF, a power of 1e300 W, 1e9 m², a factor value of 1e200, a rate of 1e-300."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbon_domain import csv_rows, formulas, names
from carbon_domain.catalog import MODULE_OF, DataEntryType, ModuleType
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.csv_rows import RowError, parse_entry_row, parse_factor_row
from carbon_domain.csv_rows.fields import Col
from carbon_domain.csv_rows.schemas import COMMON_ENTRY_COLS, ENTRY_SCHEMAS, FACTOR_SCHEMAS
from carbon_domain.handlers import HANDLERS
from carbon_domain.numbers import (
    ENTRY_QUANTITY,
    EXCHANGE_RATE,
    FACILITY_TOTAL_USE,
    FACTOR_VALUE,
    SURFACE,
    Limit,
    short,
)
from carbon_domain.reference import ReferenceData
from carbon_domain.seed import SeedManifest, generate
from tests.unit.seed.test_generator import rows_of

YEAR = 2025
LIMITS = (ENTRY_QUANTITY, SURFACE, FACTOR_VALUE, FACILITY_TOTAL_USE, EXCHANGE_RATE)


def _numeric(cols: tuple[Col, ...]) -> list[str]:
    return [c.name for c in cols if c.kind in ("num", "int")]


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> SeedManifest:
    """A small synthetic university: one valid file of every factor and entry type."""
    return generate(tmp_path_factory.mktemp("limits"), units=4, entries=1200, year=YEAR)


def _first_rows(m: SeedManifest, kind: str) -> list[tuple[ModuleType, DataEntryType,
                                                             dict[str, str]]]:
    out = []
    for f in m.of_kind(kind):
        assert f.module is not None and f.det is not None
        row = next(iter(rows_of(m.path_of(f))))
        out.append((ModuleType(f.module), DataEntryType(f.det), row))
    return out


def _refused(parse: Callable[[dict[str, str]], Any], row: dict[str, str], col: str,
             value: str) -> str:
    with pytest.raises(RowError) as exc:
        parse({**row, col: value})
    return str(exc.value)


def test_every_number_of_every_upload_kind_refuses_a_value_beyond_any_limit(
        seed: SeedManifest) -> None:
    """Each numeric column of each type's factor and entry rows (and of the reference rows)
    refuses 1e300 with a reason naming it and the value; before, most stored it."""
    factor_types, entry_types = set(), set()
    for module, det, row in _first_rows(seed, "factors"):
        parse_factor_row(module, det, row)  # the seed's row is valid
        factor_types.add(det)
        schema = FACTOR_SCHEMAS[det]
        for col in _numeric(schema.values):
            why = _refused(partial(parse_factor_row, module, det), row, col, "1e300")
            assert why.startswith(f"{col} must be ") and ("1e+300" in why
                                                          or "'1e300'" in why), why
    for module, det, row in _first_rows(seed, "data-entries"):
        parse_entry_row(module, det, row)
        entry_types.add(det)
        for col in _numeric((*ENTRY_SCHEMAS[det].cols, *COMMON_ENTRY_COLS)):
            why = _refused(partial(parse_entry_row, module, det), row, col, "1e300")
            assert why.startswith(f"{col} must be ") and ("1e+300" in why
                                                          or "'1e300'" in why), why
    assert factor_types == entry_types == set(DataEntryType)
    room = {"building_name": "B", "room_name": "R", "room_surface_square_meter": "1e300"}
    assert _refused(csv_rows.parse_room_row, room, "room_type", "office") == (
        "room_surface_square_meter must be at most 1e8 m² (got '1e300')")
    rate = {"year": "2025", "currency": "chf"}
    assert _refused(csv_rows.parse_rate_row, rate, "rate_to_eur", "1e300") == (
        "rate_to_eur must be between 1e-6 and 1e6 EUR per unit (got '1e300')")


def _purchase(amount: str, currency: str = "chf") -> dict[str, str]:
    return {"purchase_institutional_code": "12000000", "total_spent_amount": amount,
            "currency": currency}


@pytest.mark.parametrize(("parse", "col", "at", "beyond", "reason"), [
    (lambda r: parse_entry_row(ModuleType.purchase, D.services, r), "total_spent_amount",
     "1000000000000", "1000000000001",
     "total_spent_amount must be at most 1e12 (got '1000000000001')"),
    (lambda r: parse_entry_row(ModuleType.professional_travel, D.plane, r), "number_of_trips",
     "1e12", "2e12", "number_of_trips must be at most 1e12 (got '2e12')"),
    (lambda r: parse_entry_row(ModuleType.buildings, D.building, r),
     "room_surface_square_meter", "1e8", "1.5e8",
     "room_surface_square_meter must be at most 1e8 m² (got '1.5e8')"),
    (lambda r: parse_entry_row(ModuleType.buildings, D.energy_combustion, r), "kg_co2eq",
     "1e12", "1.1e12", "kg_co2eq must be at most 1e12 (got '1.1e12')"),
    (lambda r: parse_factor_row(ModuleType.equipment, D.it, r), "active_power_w", "1e12",
     "1e13", "active_power_w must be at most 1e12 (got '1e13')"),
    (lambda r: parse_factor_row(ModuleType.research_facilities, D.research_facilities, r),
     "total_use", "0.000001", "0.0000009",
     "total_use must be 0 or between 1e-6 and 1e12 (got '0.0000009')"),
    (csv_rows.parse_rate_row, "rate_to_eur", "0.000001", "1e-7",
     "rate_to_eur must be between 1e-6 and 1e6 EUR per unit (got '1e-7')"),
    (csv_rows.parse_room_row, "room_surface_square_meter", "100000000", "100000001",
     "room_surface_square_meter must be at most 1e8 m² (got '100000001')"),
], ids=["amount", "trips", "entry surface", "kg override", "power", "total use", "rate",
        "room surface"])
def test_a_value_at_the_limit_is_accepted_and_one_beyond_it_refused(
        parse: Callable[[dict[str, str]], Any], col: str, at: str, beyond: str,
        reason: str) -> None:
    base = {
        "total_spent_amount": _purchase("10"),
        "number_of_trips": {"origin_iata": "GVA", "destination_iata": "LHR",
                            "cabin_class": "economy"},
        "kg_co2eq": {"name": "Natural gas", "quantity": "5"},
        "active_power_w": {"equipment_class": "Laptop", "ef_kg_co2eq_per_kwh": "0.1"},
        "total_use": {"researchfacility_id": "X", "kg_co2eq_sum": "10"},
        "rate_to_eur": {"year": "2025", "currency": "usd"},
    }.get(col, {"building_name": "B", "room_name": "R"})
    parse({**base, col: at})
    with pytest.raises(RowError) as exc:
        parse({**base, col: beyond})
    assert str(exc.value) == reason


def test_zero_and_negatives_mean_what_they_meant() -> None:
    """The limits bound magnitudes only: 0 stays valid where it was (a total use of 0 is "no
    share", an amount of 0 is an amount), and a negative or a zero rate is refused by the
    column's own rule, in its own words, as before."""
    facility = {"researchfacility_id": "X", "kg_co2eq_sum": "10", "total_use": "0"}
    assert parse_factor_row(ModuleType.research_facilities, D.research_facilities,
                            facility).values["total_use"] == 0.0
    assert parse_entry_row(ModuleType.purchase, D.services, _purchase("0")).data[
        "total_spent_amount"] == 0.0
    with pytest.raises(RowError, match=r"^total_spent_amount must be at least 0 \(got -5\)$"):
        parse_entry_row(ModuleType.purchase, D.services, _purchase("-5"))
    with pytest.raises(RowError, match="rate_to_eur: Input should be greater than 0"):
        csv_rows.parse_rate_row({"year": "2025", "currency": "usd", "rate_to_eur": "0"})
    for bad in ("nan", "inf", "-Infinity"):
        with pytest.raises(RowError, match="is not a number"):
            parse_entry_row(ModuleType.purchase, D.services, _purchase(bad))
    with pytest.raises(RowError, match="'1e999' is too large"):
        parse_entry_row(ModuleType.purchase, D.services, _purchase("1e999"))


@pytest.mark.parametrize("limit", LIMITS, ids=lambda lim: lim.what)
def test_the_rule_of_each_limit(limit: Limit) -> None:
    assert limit.problem("x", limit.hi, "v") is None
    assert limit.problem("x", math.nextafter(limit.hi, math.inf), "v") == (
        f"x must be {limit.rule} (got v)")
    assert short(limit.hi) in limit.rule
    if limit.lo is not None:
        assert limit.problem("x", limit.lo, "v") is None
        assert limit.problem("x", math.nextafter(limit.lo, 0.0), "v") is not None
        assert (limit.problem("x", 0.0, "v") is None) is limit.zero


within = st.floats(min_value=0.0, max_value=ENTRY_QUANTITY.hi)
factor_values = st.floats(min_value=0.0, max_value=FACTOR_VALUE.hi)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # stateless fixtures
@given(amount=within, ef=factor_values, currency=st.sampled_from(names.CURRENCIES),
       factor_currency=st.sampled_from(names.CURRENCIES))
def test_values_within_the_limits_parse_and_compute_exactly_as_before(
        amount: float, ef: float, currency: str, factor_currency: str,
        factor: Any, run: Any, refs: ReferenceData) -> None:
    """Any amount and factor within the limits, written as a file writes them, is parsed to
    the very float ``float()`` gives (what was stored before the limits) and computed to the
    kg of the formula on those floats, bit for bit."""
    text = repr(amount)
    row = parse_entry_row(ModuleType.purchase, D.services, _purchase(text, currency))
    assert row.data["total_spent_amount"] == float(text) == amount
    f = factor(D.services, 1, purchase_institutional_code="12000000",
               ef_kg_co2eq_per_currency=repr(ef), currency=factor_currency)
    assert f.values["ef_kg_co2eq_per_currency"] == ef
    res = run(D.services, [f], row.data)
    a_rate, f_rate = refs.rate_to_eur(2024, currency), refs.rate_to_eur(2024, factor_currency)
    assert a_rate is not None and f_rate is not None
    assert [r[3] for r in res.rows] == [formulas.to_eur_kg(amount, a_rate, ef, f_rate)]


@given(value=st.floats(min_value=FACTOR_VALUE.hi, exclude_min=True, allow_infinity=False))
def test_every_finite_value_beyond_the_limit_is_refused_naming_it(value: float) -> None:
    row = {"equipment_class": "Laptop", "active_power_w": repr(value),
           "ef_kg_co2eq_per_kwh": "0.1"}
    with pytest.raises(RowError) as exc:
        parse_factor_row(ModuleType.equipment, D.it, row)
    assert str(exc.value) == f"active_power_w must be at most 1e12 (got {repr(value)!r})"


# -- why the limits are what they are -----------------------------------------------------
Q, F, S = ENTRY_QUANTITY.hi, FACTOR_VALUE.hi, SURFACE.hi
#: numbers.py's bound on one emission row's kg with every number at its limit.
ROW_KG_MAX = 1e45
#: Far more entries than any upload or year can hold.
ENTRIES_MAX = 1e18


def _at_limits(det: DataEntryType, factor_cols: dict[str, Any], data: dict[str, Any],
               factor: Any, run: Any, refs: ReferenceData) -> float:
    """The largest kg of the entry ``data`` priced by the factor ``factor_cols``, both parsed
    as an upload parses them (so every number is within its limit)."""
    f = factor(det, 1, **factor_cols)
    entry = parse_entry_row(MODULE_OF[det], det, {k: str(v) for k, v in data.items()})
    res = run(det, [f], entry.data, ref=refs)
    assert res.rows and not res.errors, (res.errors, res.missing)
    return float(max(r[3] for r in res.rows))


WORST_CASES: dict[str, tuple[DataEntryType, dict[str, Any], dict[str, Any]]] = {
    "a building room": (D.building, {
        "building_name": "B", "ef_kg_co2eq_per_kwh": F, "energy_type": "thermal",
        "heating_kwh_per_square_meter": F, "conversion_factor": F},
        {"building_name": "B", "room_name": "R", "room_surface_square_meter": S}),
    "a flight": (D.plane, {
        "category": "long", "cabin_class": "first", "ef_kg_co2eq_per_km": F,
        "rfi_adjustment": F, "min_distance": 0, "max_distance": F},
        {"origin_iata": "GVA", "destination_iata": "SYD", "number_of_trips": Q,
         "cabin_class": "first"}),
    "spend": (D.services, {
        "purchase_institutional_code": "1", "ef_kg_co2eq_per_currency": F, "currency": "jpy"},
        {"purchase_institutional_code": "1", "total_spent_amount": Q, "currency": "gbp"}),
    "headcount": (D.student, {
        "headcount_category": "food", "number_of_unit_per_fte": F, "ef_kg_co2eq_per_unit": F},
        {"fte": Q}),
    "additional purchases": (D.additional_purchases, {"name": "x", "ef_kg_co2eq_per_kg": F},
                             {"name": "x", "annual_consumption": Q, "coef_to_kg": Q}),
    "a facility": (D.research_facilities, {
        "researchfacility_id": "X", "kg_co2eq_sum": F, "total_use": FACILITY_TOTAL_USE.lo},
        {"researchfacility_id": "X", "use": Q}),
    "an animal facility": (D.mice_and_fish_animal_facilities, {
        "researchfacility_id": "X", "total_use": FACILITY_TOTAL_USE.lo,
        **{f"{s}_share": F for s in csv_rows.FACILITY_SOURCES},
        **{f"kg_co2eq_sum_{s}": F for s in csv_rows.FACILITY_SOURCES}},
        {"researchfacility_id": "X", "use": Q, "researchfacility_type": "mice"}),
    "external AI": (D.external_ai, {"provider": "openai", "ef_kg_co2eq_per_request": F},
                    {"provider": "openai", "requests_per_user_per_day": "gt_100",
                     "fte_count": Q}),
    "equipment": (D.it, {"equipment_class": "x", "active_power_w": F, "standby_power_w": F,
                         "ef_kg_co2eq_per_kwh": F},
                  {"equipment_class": "x", "active_usage_hours_per_week": 168}),
    "a train journey": (D.train, {"country_code": "RoW", "ef_kg_co2eq_per_km": F},
                        {"origin_name": "Genève", "origin_country_code": "CH",
                         "destination_name": "Paris Gare de Lyon",
                         "destination_country_code": "FR", "number_of_trips": Q,
                         "cabin_class": "first"}),
    "combustion": (D.energy_combustion, {"name": "gas", "ef_kg_co2eq_per_unit": F},
                   {"name": "gas", "quantity": Q}),
    "process emissions": (D.process_emissions, {"category": "co2", "ef_kg_co2eq_per_unit": F},
                          {"category": "co2", "quantity": Q}),
    "embodied energy": (D.building_embodied_energy, {
        "building_name": "B", "category": "new-tech", "ef_kgco2eq_per_m2": F},
        {"building_name": "B", "room_surface_square_meter": S}),
    "cloud spend": (D.external_clouds, {
        "service_type": "compute", "provider": "aws", "ef_kg_co2eq_per_currency": F,
        "currency": "jpy"},
        {"service_type": "compute", "provider": "aws", "spent_amount": Q, "currency": "gbp"}),
}


def test_the_worst_cases_cover_every_formula() -> None:
    covered = {HANDLERS[det].compute for det, _f, _d in WORST_CASES.values()}
    assert {h.compute for h in HANDLERS.values()} == covered


@pytest.mark.parametrize("case", list(WORST_CASES))
def test_with_every_number_at_its_limit_no_sum_can_overflow(case: str, factor: Any, run: Any
                                                           ) -> None:
    """The bound numbers.py derives the limits from: one row's kg stays below 1e45 (spend
    with the extreme rates), so 1e18 such rows still sum to a finite double, far from its
    1.8e308: no aggregation of loaded data can fail on its size."""
    refs = ReferenceData.build(rates=[(2024, "gbp", EXCHANGE_RATE.hi),
                                      (2024, "jpy", EXCHANGE_RATE.lo)])
    det, factor_cols, data = WORST_CASES[case]
    kg = _at_limits(det, factor_cols, data, factor, run, refs)
    assert 0 < kg < ROW_KG_MAX, kg
    assert kg * ENTRIES_MAX < sys.float_info.max


def test_the_limits_leave_realistic_figures_far_inside(seed: SeedManifest) -> None:
    """Every number of the seed's synthetic university (realistic magnitudes: the bench's
    1M-entry year is made of the same rows) and every shipped exchange rate is at least a
    thousand times inside its limit."""
    for kind, parse in (("factors", lambda m, d, r: parse_factor_row(m, d, r).values),
                        ("data-entries", lambda m, d, r: parse_entry_row(m, d, r).data)):
        for f in seed.of_kind(kind):
            assert f.module is not None and f.det is not None
            module, det = ModuleType(f.module), DataEntryType(f.det)
            for row in rows_of(seed.path_of(f)):
                for key, v in parse(module, det, row).items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        assert abs(v) * 1000 <= SURFACE.hi if "surface" in key else (
                            abs(v) * 1000 <= FACTOR_VALUE.hi), (kind, det.name, key, v)
    (rooms,) = seed.of_kind("building-rooms")
    for row in rows_of(seed.path_of(rooms)):
        assert csv_rows.parse_room_row(row).room_surface_square_meter * 1000 <= SURFACE.hi
    rates = Path(__file__).parents[3] / "carbon_domain" / "data" / "exchange_rates.csv"
    values = [float(line.split(",")[2]) for line in rates.read_text().splitlines()[1:]]
    assert EXCHANGE_RATE.lo * 1000 <= min(values) and max(values) * 1000 <= EXCHANGE_RATE.hi
