"""Fast paths of the engine for the simple types: equipment, purchases, headcount, and the
travel types (plane, train), whose work depends on the route.

The row engine (``engine_rows.compute_into``) pays per entry for a resolver call, a factor match,
a handler call that re-reads and re-converts the factor's values, and a row check. For these
types all of that depends on a few values that repeat across a chunk: the emission types are
fixed (``resolvers.STATIC_TYPES``), the match depends only on the entry's match key, the
exchange rate only on its currency. So a fast path works out once per distinct key what the
row engine would (factor id, reason of a miss, the factor's numbers) and leaves one multiply
and one row tuple per entry.

Exactness: an entry takes the fast path only when its data is ordinary — match keys that are
strings or absent, numbers that are int/float inside the handler's accepted range, no
override, a stored link that is an int or absent, a finite result. Anything else (a string
where a number is expected, NaN, an override, a list as a key, …) goes through the row
engine for that one entry, into the same result, so it gets the reference's rows, errors and
reasons, in the same order. ``tests/unit/domain/test_engine_fast.py`` checks the whole
``BatchResult`` bit for bit against ``compute_batch_rows`` on random entries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any
from weakref import WeakKeyDictionary

from carbon_domain import formulas, names
from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.emission_types import SCOPE_OF
from carbon_domain.engine_rows import LINK_KEY, BatchResult, compute_into
from carbon_domain.handlers import HANDLERS, Context, activity, people, spend, travel
from carbon_domain.handlers.base import value
from carbon_domain.matching import MATCH_SPECS, PURCHASE_DETS, FactorIndex, FactorRecord
from carbon_domain.reference import ReferenceData
from carbon_domain.resolvers import RESOLVERS, STATIC_TYPES

Entries = Iterable[tuple[int, dict[str, Any]]]
FastPath = Callable[[int, Entries, FactorIndex, ReferenceData], BatchResult]

HOURS_PER_WEEK = activity.HOURS_PER_WEEK
# Headcount: fte ≤ 1e6 with factor numbers ≤ 1e100 keeps fte × per-FTE × EF below 1e300,
# so every fast row is finite without a check per row (24 rows per entry).
_FTE_MAX = 1e6
_FACTOR_MAX = 1e100
# Spend: amounts above this go to the row engine (float() of a larger int may overflow).
_AMOUNT_MAX = 1e300
# Plans kept per factor index, across the chunks of a worker (the index is cached there):
# purchase keys are nearly unique per entry, so a per-chunk memo would barely help.
_PLAN_LIMIT = 200_000
_UNSEEN = object()
_CACHE: WeakKeyDictionary[FactorIndex, tuple[ReferenceData, dict[Any, Any], dict[Any, Any]]] = (
    WeakKeyDictionary())


def _new(index: FactorIndex, refs: ReferenceData) -> tuple[BatchResult, Context]:
    return (BatchResult(rows=[], relinked={}, errors=[], missing=[], entries=0),
            Context(index=index, refs=refs, year=index.year))


def _caches(index: FactorIndex, refs: ReferenceData, kind: str
            ) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(``kind``'s plans by match key, EUR rates by currency) of this index and reference
    set. A plan depends only on the index (its factors and year), the reference data and
    the key; ``kind`` keeps one fast path's plans from another's should an index be used
    with a type it was not built for."""
    hit = _CACHE.get(index)
    if hit is None or hit[0] is not refs:
        hit = _CACHE[index] = (refs, {}, {})
    plans = hit[1].setdefault(kind, {})
    if len(plans) >= _PLAN_LIMIT:
        plans.clear()
    return plans, hit[2]


def _plan(make: Callable[..., Any], *args: Any) -> Any:
    """``make(*args)``, or None when a factor's values raise (a float() of a huge int): the
    key's entries then go to the row engine, which reports the error entry by entry."""
    try:
        return make(*args)
    except Exception:  # noqa: BLE001 - the row engine reports it, entry by entry
        return None


# The loops below inline their checks: a helper call per check would be a sizeable share of
# a fast entry (~0.9 µs for `it`). What makes an entry ordinary: a dict without override; a
# stored link that is None or an int (the row engine's int() of anything else may differ or
# raise); match key values that are str or None (equal keys then mean equal values, not so
# for 1 == 1.0 == True, which normalise differently); numbers of type int or float in the
# handler's range, which excludes NaN, bool and blanks (the handler's number() turns "" into
# the default; the row engine does that).


def equipment(det: int, entries: Entries, index: FactorIndex, refs: ReferenceData
              ) -> BatchResult:
    """``activity.equipment``: (active h × W + standby h × W) × 52 / 1000 × EF per kWh."""
    res, ctx = _new(index, refs)
    (et,) = STATIC_TYPES[det]
    scope = SCOPE_OF.get(et)
    spec = MATCH_SPECS[det]
    if scope is None or spec.tie_break or spec.subkind is None:
        compute_into(res, det, entries, index, ctx)
        return res
    kind, sub = spec.kind, spec.subkind
    rows, missing, reasons, relinked = res.rows, res.missing, res.missing_reasons, res.relinked
    plans, _ = _caches(index, refs, "equipment")
    kwh_of, isfinite, hmax = formulas.equipment_kwh, math.isfinite, HOURS_PER_WEEK
    n = 0
    for entry_id, data in entries:
        plan = link = None
        if type(data) is dict and data.get(OVERRIDE_KEY) is None:
            get = data.get
            k, s, link = get(kind), get(sub), get(LINK_KEY)
            if ((link is None or type(link) is int) and (k is None or type(k) is str)
                    and (s is None or type(s) is str)):
                plan = plans.get((k, s), _UNSEEN)
                if plan is _UNSEEN:
                    plan = plans[(k, s)] = _plan(_equipment_plan, index, data)
        if plan is not None:
            fid, reason, fv = plan
            if fv is None:  # no factor, or one without power or EF: no hours read
                if link != fid:
                    relinked[entry_id] = fid
                missing.append(entry_id)
                reasons[entry_id] = reason
                n += 1
                continue
            active_w, ef, act, stb, standby_w = fv  # blank hours: the factor's defaults
            a: Any = get("active_usage_hours_per_week")
            b: Any = get("standby_usage_hours_per_week")
            ta, tb = type(a), type(b)
            if (a is None or ((ta is float or ta is int) and 0 <= a <= hmax)) and (
                    b is None or ((tb is float or tb is int) and 0 <= b <= hmax)):
                if a is not None:
                    act = float(a)
                if b is not None:
                    stb = float(b)
                if act + stb <= hmax:
                    kg = kwh_of(act, stb, active_w, standby_w) * ef
                    if isfinite(kg):
                        if link != fid:
                            relinked[entry_id] = fid
                        rows.append((entry_id, et, scope, kg, None, fid))
                        n += 1
                        continue
        compute_into(res, det, ((entry_id, data),), index, ctx)
    res.entries += n
    return res


def _equipment_plan(index: FactorIndex, data: dict[str, Any]
                    ) -> tuple[int | None, str, tuple[Any, ...] | None]:
    """(factor id, reason if missing, the handler's five factor numbers or None)."""
    factor, reason = index.match(data)
    if factor is None:
        return None, reason or "no factor", None
    numbers = activity.equipment_numbers(factor.values)  # all five first: any may raise
    if numbers[0] is None or numbers[1] is None:
        return factor.id, "no applicable factor", None
    return factor.id, "", numbers


def purchase(det: int, entries: Entries, index: FactorIndex, refs: ReferenceData
             ) -> BatchResult:
    """``spend.purchase``: amount × EUR rate of its currency (default CHF) × EF / EF's rate."""
    res, ctx = _new(index, refs)
    (et,) = STATIC_TYPES[det]
    scope = SCOPE_OF.get(et)
    if scope is None:
        compute_into(res, det, entries, index, ctx)
        return res
    rows, missing, reasons, relinked = res.rows, res.missing, res.missing_reasons, res.relinked
    plans, rates = _caches(index, refs, "purchase")
    to_eur_kg, isfinite, year, amax = formulas.to_eur_kg, math.isfinite, index.year, _AMOUNT_MAX
    n = 0
    for entry_id, data in entries:
        plan = link = None
        if type(data) is dict and data.get(OVERRIDE_KEY) is None:
            get = data.get
            add, inst = get("purchase_additional_code"), get("purchase_institutional_code")
            link = get(LINK_KEY)
            if ((link is None or type(link) is int) and (add is None or type(add) is str)
                    and (inst is None or type(inst) is str)):
                plan = plans.get((add, inst), _UNSEEN)
                if plan is _UNSEEN:
                    plan = plans[(add, inst)] = _plan(_purchase_plan, index, data, refs)
        if plan is not None:
            fid, reason, ef, ef_rate = plan
            if fid is None:  # no factor: missing before the amount is read
                if link is not None:
                    relinked[entry_id] = None
                missing.append(entry_id)
                reasons[entry_id] = reason
                n += 1
                continue
            amount: Any = get("total_spent_amount")
            cur = get("currency") or "chf"
            ta = type(amount)
            if (ta is float or ta is int) and 0 <= amount <= amax and type(cur) is str:
                if ef is None:  # a factor without EF: the amount was read, no rate
                    if link != fid:
                        relinked[entry_id] = fid
                    missing.append(entry_id)
                    reasons[entry_id] = reason
                    n += 1
                    continue
                rate = rates.get(cur, _UNSEEN)
                if rate is _UNSEEN:
                    rate = rates[cur] = refs.rate_to_eur(year, cur)
                if rate is not None and ef_rate is not None:
                    kg = to_eur_kg(float(amount), rate, ef, ef_rate)
                    if isfinite(kg):
                        if link != fid:
                            relinked[entry_id] = fid
                        rows.append((entry_id, et, scope, kg, None, fid))
                        n += 1
                        continue
        compute_into(res, det, ((entry_id, data),), index, ctx)
    res.entries += n
    return res


def _purchase_plan(index: FactorIndex, data: dict[str, Any], refs: ReferenceData
                   ) -> tuple[int | None, str, float | None, float | None]:
    """(factor id, reason if missing, EF per factor currency, EUR rate of that currency);
    a rate of None (unknown, zero, not finite) sends the key's entries to the row engine."""
    factor: FactorRecord | None
    factor, reason = index.match(data)
    if factor is None:
        return None, reason or "no factor", None, None
    ef = value(factor.values, "ef_kg_co2eq_per_currency")
    if ef is None:
        return factor.id, "no applicable factor", None, None
    ef_rate = refs.rate_to_eur(index.year, factor.values.get("currency") or "eur")
    if ef_rate is None or ef_rate == 0 or not math.isfinite(ef_rate):
        ef_rate = None
    return factor.id, "", ef, ef_rate


def headcount(det: int, entries: Entries, index: FactorIndex, refs: ReferenceData
              ) -> BatchResult:
    """``people.headcount``: one row per headcount factor, fte × units per FTE × EF."""
    res, ctx = _new(index, refs)
    listed = [(et, SCOPE_OF.get(et), per_fte, ef, fid)
              for fid, et, per_fte, ef in index.headcount()]
    if any(scope is None or not (abs(per_fte) <= _FACTOR_MAX and abs(ef) <= _FACTOR_MAX)
           for _, scope, per_fte, ef, _ in listed):
        compute_into(res, det, entries, index, ctx)  # rows the row engine rejects: its way
        return res
    factors = [(et, scope, per_fte, ef, fid) for et, scope, per_fte, ef, fid in listed
               if scope is not None]
    rows, missing, reasons = res.rows, res.missing, res.missing_reasons
    n = 0
    for entry_id, data in entries:
        if type(data) is dict and data.get(OVERRIDE_KEY) is None:
            fte: Any = data.get("fte")
            t = type(fte)
            if (t is float or t is int) and 0 <= fte <= _FTE_MAX:
                n += 1
                if not factors:
                    missing.append(entry_id)
                    reasons[entry_id] = "no applicable factor"
                    continue
                fte = float(fte)
                rows += [(entry_id, et, scope, units * ef, units, fid)
                         for et, scope, per_fte, ef, fid in factors for units in (fte * per_fte,)]
                continue
        compute_into(res, det, ((entry_id, data),), index, ctx)
    res.entries += n
    return res


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
    res, ctx = _new(index, refs)
    rows, missing, reasons = res.rows, res.missing, res.missing_reasons
    plans, _ = _caches(index, refs, kind)
    isfinite, rfi_kg = math.isfinite, kind == "plane"
    plane_kg = formulas.plane_kg
    n = 0
    for entry_id, data in entries:
        plan = None
        if type(data) is dict and data.get(OVERRIDE_KEY) is None:
            get = data.get
            key = key_of(get)
            if key is not None:
                plan = plans.get(key, _UNSEEN)
                if plan is _UNSEEN:
                    plan = plans[key] = _plan(make, det, index, refs, data)
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


# Types whose emission type comes from the entry (the cabin), resolved once per plan.
_ROUTED: tuple[FastPath, ...] = (plane, train)


def _paths() -> dict[int, FastPath]:
    """A fast path per type whose handler is the one it mirrors (a type moved to another
    handler silently loses its fast path rather than computing the old formula)."""
    mirrors: list[tuple[Any, FastPath]] = [(activity.equipment, equipment),
                                           (spend.purchase, purchase),
                                           (people.headcount, headcount),
                                           (travel.plane, plane), (travel.train, train)]
    out: dict[int, FastPath] = {}
    for det, handler in HANDLERS.items():
        for compute, fast in mirrors:
            if handler.compute is compute and (det in STATIC_TYPES or fast in _ROUTED):
                if fast is purchase and det not in PURCHASE_DETS:
                    continue
                out[det] = fast
    return out


#: Data entry type → its fast path.
FAST_PATHS: dict[int, FastPath] = _paths()
