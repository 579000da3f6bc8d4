"""Explaining one entry: the pure engine run on it, plus each row's formula with its inputs.

Nothing here computes a kg of its own: the rows come from ``engine.compute_batch`` (the code
every recalculation chunk runs). This module only annotates them: which factor each row
used, and the handler's formula written out with the entry's and the factor's numbers
substituted, in the same order of operations as the handler, so evaluating the substituted
text gives the row's kg exactly. The templates are the documentation of ``handlers/``; a
test evaluates every template against the engine's kg, so they cannot drift silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from carbon_domain import formulas, names
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.csv_rows.schemas import FACILITY_SOURCES
from carbon_domain.emission_types import SCOPE_OF, EmissionType
from carbon_domain.engine import compute_batch
from carbon_domain.handlers import HANDLERS
from carbon_domain.matching import FactorIndex, FactorRecord
from carbon_domain.reference import ReferenceData
from carbon_domain.resolvers import RESOLVERS

#: Why an entry has no emission row (drill-down, explain and the detailed export say so).
NO_MATCHING_FACTOR = "no_matching_factor"
RETIRED_FACTOR = "retired_factor"
UNRESOLVABLE_TYPE = "unresolvable_type"
ENTRY_ERROR = "entry_error"
NOT_RECALCULATED = "not_recalculated"


@dataclass(slots=True)
class ExplainedRow:
    emission_type_id: int
    emission_type_path: str
    scope: int | None
    kg_co2eq: float
    additional_value: float | None
    factor_id: int | None
    formula: str
    substituted: str
    inputs: dict[str, float]


@dataclass(slots=True)
class Explanation:
    data_entry_type_id: int
    strategy: str
    resolved_types: list[int]
    rows: list[ExplainedRow]
    reason_kind: str | None = None  # set when the engine gives no row
    reason: str | None = None
    factors: dict[int, FactorRecord] = field(default_factory=dict)


def _f(data: Mapping[str, Any], key: str, default: float | None = None) -> float | None:
    v = data.get(key)
    if v is None or v == "":
        return default
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


Inputs = Callable[[Mapping[str, Any], FactorRecord, tuple[Any, ...], ReferenceData, Any],
                  tuple[str, dict[str, Any]]]


def _headcount(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
               year: Any) -> tuple[str, dict[str, Any]]:
    return ("fte × number_of_unit_per_fte × ef_kg_co2eq_per_unit",
            {"fte": _f(d, "fte"), **f.values})


def _equipment(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
               year: Any) -> tuple[str, dict[str, Any]]:
    v = f.values
    return (("(active_usage_hours_per_week × active_power_w + standby_usage_hours_per_week"
             " × standby_power_w) × 52 / 1000 × ef_kg_co2eq_per_kwh"), {
                **v, "standby_power_w": _f(v, "standby_power_w", 0.0),
                "active_usage_hours_per_week": _f(d, "active_usage_hours_per_week",
                                                  _f(v, "active_usage_hours_per_week", 0.0)),
                "standby_usage_hours_per_week": _f(d, "standby_usage_hours_per_week",
                                                   _f(v, "standby_usage_hours_per_week", 0.0))})


def _trip(d: Mapping[str, Any], f: FactorRecord, row: Any) -> dict[str, Any]:
    # additional_value is the total km (per-trip km × trips, per-trip km integral).
    trips = _f(d, "number_of_trips", 1.0) or 1.0
    return {**f.values, "trip_km": row[4] / trips, "number_of_trips": trips}


def _plane(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
           year: Any) -> tuple[str, dict[str, Any]]:
    inputs = {**_trip(d, f, row), "rfi_adjustment": _f(f.values, "rfi_adjustment", 1.0)}
    return "trip_km × number_of_trips × ef_kg_co2eq_per_km × rfi_adjustment", inputs


def _train(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
           year: Any) -> tuple[str, dict[str, Any]]:
    return "trip_km × number_of_trips × ef_kg_co2eq_per_km", _trip(d, f, row)


_ROOM_KWH = {"lighting": "lighting_kwh_per_square_meter",
             "cooling": "cooling_kwh_per_square_meter",
             "ventilation": "ventilation_kwh_per_square_meter"}


def _surface(d: Mapping[str, Any], refs: ReferenceData) -> float | None:
    own = _f(d, "room_surface_square_meter")
    return own if own is not None else refs.room_surface(d.get("building_name"),
                                                        d.get("room_name"))


def _room(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
          year: Any) -> tuple[str, dict[str, Any]]:
    # buildings__rooms__<energy>[__<room type>]: the energy names the kWh/m² column.
    leaf = EmissionType(row[1]).path.split("__")[2]
    inputs = {**f.values, "room_surface_square_meter": _surface(d, refs),
              "room_allocation_ratio": _f(d, "room_allocation_ratio", 1.0)}
    base = "room_surface_square_meter × room_allocation_ratio × ef_kg_co2eq_per_kwh"
    if leaf in _ROOM_KWH:
        return f"{base} × {_ROOM_KWH[leaf]}", inputs
    inputs["conversion_factor"] = _f(f.values, "conversion_factor", 1.0) or 0.0
    return f"{base} × heating_kwh_per_square_meter × conversion_factor", inputs


def _embodied(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
              year: Any) -> tuple[str, dict[str, Any]]:
    return ("room_surface_square_meter × ef_kgco2eq_per_m2",
            {**f.values, "room_surface_square_meter": _surface(d, refs)})


def _quantity(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
              year: Any) -> tuple[str, dict[str, Any]]:
    return "quantity × ef_kg_co2eq_per_unit", {**f.values, "quantity": _f(d, "quantity")}


def _spend(amount_key: str, default_currency: str) -> Inputs:
    def inputs(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
               year: Any) -> tuple[str, dict[str, Any]]:
        return ((f"{amount_key} × amount_rate_to_eur × ef_kg_co2eq_per_currency"
                 " / factor_currency_rate_to_eur"), {
                    **f.values, amount_key: _f(d, amount_key),
                    "amount_rate_to_eur": refs.rate_to_eur(
                        year, d.get("currency") or default_currency),
                    "factor_currency_rate_to_eur": refs.rate_to_eur(
                        year, f.values.get("currency") or "eur")})
    return inputs


def _ai(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
        year: Any) -> tuple[str, dict[str, Any]]:
    per_day = names.AI_REQUEST_BUCKETS.get(names.slug(d.get("requests_per_user_per_day")) or "")
    return ((f"requests_per_day × {formulas.AI_DAYS_PER_WEEK} × {formulas.AI_WEEKS_PER_YEAR}"
             " × fte_count × ef_kg_co2eq_per_request / 1000"),
            {**f.values, "requests_per_day": per_day, "fte_count": _f(d, "fte_count")})


def _additional(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
                year: Any) -> tuple[str, dict[str, Any]]:
    return ("annual_consumption × coef_to_kg × ef_kg_co2eq_per_kg",
            {**f.values, "annual_consumption": _f(d, "annual_consumption"),
             "coef_to_kg": _f(d, "coef_to_kg", 1.0)})


def _facility(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
              year: Any) -> tuple[str, dict[str, Any]]:
    return "use / total_use × kg_co2eq_sum", {**f.values, "use": _f(d, "use")}


def _animal(d: Mapping[str, Any], f: FactorRecord, row: Any, refs: ReferenceData,
            year: Any) -> tuple[str, dict[str, Any]]:
    v = f.values
    terms = [f"use × {s}_share / total_use × kg_co2eq_sum_{s}" for s in FACILITY_SOURCES
             if _f(v, f"{s}_share") is not None and _f(v, f"kg_co2eq_sum_{s}") is not None]
    return "0 + " + " + ".join(terms), {**v, "use": _f(d, "use")}


_PURCHASES = (D.scientific_equipment, D.it_equipment, D.consumable_accessories,
              D.biological_chemical_gaseous_product, D.services, D.vehicles, D.other_purchases)
FORMULAS: dict[int, Inputs] = {
    D.member: _headcount, D.student: _headcount,
    D.scientific: _equipment, D.it: _equipment, D.other: _equipment,
    D.plane: _plane, D.train: _train,
    D.building: _room, D.energy_combustion: _quantity, D.building_embodied_energy: _embodied,
    D.external_clouds: _spend("spent_amount", "eur"), D.external_ai: _ai,
    D.process_emissions: _quantity,
    **{det: _spend("total_spent_amount", "chf") for det in _PURCHASES},
    D.additional_purchases: _additional,
    D.research_facilities: _facility, D.mice_and_fish_animal_facilities: _animal,
}
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def number_text(x: Any) -> str:
    """A number as it is substituted into a formula: integral values without '.0', others
    in their shortest exact form, so evaluating the text reproduces the float."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    f = float(x)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def substitute(formula: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, float]]:
    """The formula with every known name replaced by its value; the values used."""
    used: dict[str, float] = {}

    def repl(m: re.Match[str]) -> str:
        name = m.group(0)
        val = _f(inputs, name)
        if val is None:
            return name
        used[name] = val
        return number_text(val)
    return _NAME.sub(repl, formula), used


def explain_entry(det: int, entry_id: int, data: Mapping[str, Any], index: FactorIndex,
                  refs: ReferenceData, retired: FactorIndex | None = None) -> Explanation:
    """Run the engine on one entry and annotate its rows. ``retired`` (an index of the
    year's retired factors) only serves to say "retired factor" when nothing live matches."""
    det = int(det)
    handler = HANDLERS[det]
    try:
        types = list(RESOLVERS[det](data) or [])  # None: nothing resolved
    except Exception:  # noqa: BLE001 - the engine reports the same entry as an error below
        types = []
    res = compute_batch(det, [(entry_id, dict(data))], index, refs)
    out = Explanation(det, handler.strategy, types, [])
    for row in res.rows:
        et, fid = row[1], row[5]
        factor = index.by_id.get(fid) if fid is not None else None
        if factor is None:  # the operator's kg_co2eq override: no factor, no formula
            formula, inputs = "kg_co2eq_override", {"kg_co2eq_override": data.get(OVERRIDE_KEY)}
            text, used = substitute(formula, inputs)
        else:
            out.factors[factor.id] = factor
            formula, inputs = FORMULAS[det](data, factor, row, refs, index.year)
            text, used = substitute(formula, inputs)
        out.rows.append(ExplainedRow(et, EmissionType(et).path, SCOPE_OF.get(et), row[3],
                                     row[4], fid, formula, text, used))
    if not out.rows:
        out.reason_kind, out.reason = _why_none(det, entry_id, data, res, refs, retired)
    return out


def _why_none(det: int, entry_id: int, data: Mapping[str, Any], res: Any, refs: ReferenceData,
              retired: FactorIndex | None) -> tuple[str, str]:
    if res.errors:
        reason = res.errors[0][1]
        kind = UNRESOLVABLE_TYPE if reason.startswith("cannot resolve") else ENTRY_ERROR
        return kind, reason
    reason = res.missing_reasons.get(entry_id) or "no matching factor"
    if retired is not None and len(retired):
        again = compute_batch(det, [(entry_id, dict(data))], retired, refs)
        fids = sorted({r[5] for r in again.rows if r[5] is not None})
        if fids:
            return RETIRED_FACTOR, (f"only retired factor(s) {', '.join(map(str, fids))} match"
                                    f" ({reason} among the live factors)")
    return NO_MATCHING_FACTOR, reason
