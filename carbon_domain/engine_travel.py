"""Fast paths of the engine for the travel types (plane, train), whose work depends on the
route: the row engine (``engine_rows.compute_into``) is the reference, and an entry that is not
ordinary goes there, entry by entry (see ``engine_fast`` for the rules every fast path keeps).
``tests/unit/domain/test_engine_fast.py`` checks both bit for bit against the row engine."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from carbon_domain import formulas, names
from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.emission_types import SCOPE_OF
from carbon_domain.engine_plans import UNSEEN, Entries, new_result, plan_caches, safe_plan
from carbon_domain.engine_rows import BatchResult, compute_into
from carbon_domain.matching import FactorIndex
from carbon_domain.reference import ReferenceData
from carbon_domain.resolvers import RESOLVERS

# Travel (plane, train): the row engine per entry resolves the cabin's emission type (slug
# normalisation), looks both places up, memoises the route's km, reads the trips, finds the
# band or country factor and checks the row. All but the trips depend on the route key, so a
# plan per key leaves two multiplies: per 10,000 entries on the 1M seed (CPU, min of 3, frozen
# collector) plane 35.2 → 8.5 ms, train 46.3 → 11.1 ms. The trips are ordinary when absent or an
# int/float in [1, 1e300]; anything else, and a plan that failed (unknown place or cabin), goes
# to the row engine for that entry.
_TRIPS_MAX = 1e300


def _trips(get: Callable[[str], Any]) -> float | None:
    """The entry's trips as the handler's ``number(data, "number_of_trips", 1.0, lo=1.0)``
    gives them, or None when only the row engine can say (blank, text, out of range)."""
    v = get("number_of_trips")
    if v is None:
        return 1.0
    t = type(v)
    if (t is float or t is int) and 1.0 <= v <= _TRIPS_MAX:
        return float(v)
    return None


def _travel(det: int, entries: Entries, index: FactorIndex, refs: ReferenceData,
            kind: str, key_of: Callable[[Callable[[str], Any]], tuple[Any, ...] | None],
            make: Callable[[int, FactorIndex, ReferenceData, dict[str, Any]], Any]
            ) -> BatchResult:
    res, ctx = new_result(index, refs)
    rows, missing, reasons = res.rows, res.missing, res.missing_reasons
    plans, _ = plan_caches(index, refs, kind)
    isfinite, rfi_kg = math.isfinite, kind == "plane"
    plane_kg = formulas.plane_kg
    n = 0
    for entry_id, data in entries:
        plan = None
        if type(data) is dict and data.get(OVERRIDE_KEY) is None:
            get = data.get
            key = key_of(get)
            if key is not None:
                plan = plans.get(key, UNSEEN)
                if plan is UNSEEN:
                    plan = plans[key] = safe_plan(make, det, index, refs, data)
        if plan is not None:
            trips = _trips(get)
            if trips is not None:
                et, scope, per_trip, fid, ef, rfi = plan
                if fid is None:  # places known, no band / country factor: a miss
                    missing.append(entry_id)
                    reasons[entry_id] = "no applicable factor"
                    n += 1
                    continue
                km = per_trip * trips
                kg = plane_kg(km, ef, rfi) if rfi_kg else km * ef
                if isfinite(kg) and isfinite(km):
                    rows.append((entry_id, et, scope, kg, km, fid))
                    n += 1
                    continue
        compute_into(res, det, ((entry_id, data),), index, ctx)
    res.entries += n
    return res


def _plane_key(get: Callable[[str], Any]) -> tuple[Any, ...] | None:
    """The route key when every part is a string or absent (equal keys, equal inputs)."""
    o, d, c = get("origin_iata"), get("destination_iata"), get("cabin_class")
    if ((o is None or type(o) is str) and (d is None or type(d) is str)
            and (c is None or type(c) is str)):
        return o, d, c
    return None


def _train_key(get: Callable[[str], Any]) -> tuple[Any, ...] | None:
    o, d, c = get("origin_name"), get("destination_name"), get("cabin_class")
    oc, dc = get("origin_country_code"), get("destination_country_code")
    if ((o is None or type(o) is str) and (d is None or type(d) is str)
            and (c is None or type(c) is str) and (oc is None or type(oc) is str)
            and (dc is None or type(dc) is str)):
        return o, d, c, oc, dc
    return None


def plane(det: int, entries: Entries, index: FactorIndex, refs: ReferenceData) -> BatchResult:
    """``travel.plane``: per-trip great-circle km + 95 (rounded) × trips × EF × RFI."""
    return _travel(det, entries, index, refs, "plane", _plane_key, _plane_plan)


def train(det: int, entries: Entries, index: FactorIndex, refs: ReferenceData) -> BatchResult:
    """``travel.train``: per-trip km × trips × EF of the route's country (RoW fallback)."""
    return _travel(det, entries, index, refs, "train", _train_key, _train_plan)


def _route_type(det: int, data: dict[str, Any]) -> tuple[int, int] | None:
    types = RESOLVERS[det](data)
    if not types:
        return None
    scope = SCOPE_OF.get(types[0])
    return None if scope is None else (types[0], scope)


def _plane_plan(det: int, index: FactorIndex, refs: ReferenceData, data: dict[str, Any]
                ) -> tuple[Any, ...] | None:
    """(type, scope, per-trip km, factor id, EF, RFI); factor id None: no band (a miss);
    None: the row engine decides (unknown cabin or airport)."""
    typed = _route_type(det, data)
    a, b = refs.airport(data.get("origin_iata")), refs.airport(data.get("destination_iata"))
    if typed is None or a is None or b is None:
        return None
    per_trip = formulas.plane_trip_km(a[0], a[1], b[0], b[1])
    band = index.plane_band(names.plane_cabin(data.get("cabin_class")) or "", per_trip)
    if band is None:
        return (*typed, per_trip, None, None, None)
    return (*typed, per_trip, *band)


def _train_plan(det: int, index: FactorIndex, refs: ReferenceData, data: dict[str, Any]
                ) -> tuple[Any, ...] | None:
    """(type, scope, per-trip km, factor id, EF, None); factor id None: no country factor
    (a miss); None: the row engine decides (unknown cabin or station)."""
    typed = _route_type(det, data)
    oc, dc = data.get("origin_country_code"), data.get("destination_country_code")
    a, b = refs.station(data.get("origin_name"), oc), refs.station(data.get("destination_name"), dc)
    if typed is None or a is None or b is None:
        return None
    per_trip = formulas.train_trip_km(a[0], a[1], b[0], b[1])
    country = formulas.train_country(names.country_code(oc) or a[2],
                                     names.country_code(dc) or b[2])
    hit = index.train_country(country)
    if hit is None:
        return (*typed, per_trip, None, None, None)
    return (*typed, per_trip, hit[0], hit[1], None)
