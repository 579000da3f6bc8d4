"""Fast paths of the engine for the simple types: equipment, purchases, headcount.

The row engine (``engine.compute_into``) pays per entry for a resolver call, a factor match,
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

from carbon_domain import formulas
from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.emission_types import SCOPE_OF
from carbon_domain.engine_rows import LINK_KEY, BatchResult, compute_into
from carbon_domain.handlers import HANDLERS, Context, activity, people, spend
from carbon_domain.handlers.base import value
from carbon_domain.matching import MATCH_SPECS, PURCHASE_DETS, FactorIndex, FactorRecord
from carbon_domain.reference import ReferenceData
from carbon_domain.resolvers import STATIC_TYPES

Entries = Iterable[tuple[int, dict[str, Any]]]
FastPath = Callable[[int, Entries, FactorIndex, ReferenceData], BatchResult]

HOURS_PER_WEEK = activity.HOURS_PER_WEEK
# Headcount: fte ≤ 1e6 with factor numbers ≤ 1e100 keeps fte × per-FTE × EF below 1e300,
# so every fast row is finite without a check per row (24 rows per entry).
_FTE_MAX = 1e6
_FACTOR_MAX = 1e100
# Spend: amounts above this go to the row engine (float() of a larger int may overflow).
_AMOUNT_MAX = 1e300
_UNSEEN = object()


def _new(index: FactorIndex, refs: ReferenceData) -> tuple[BatchResult, Context]:
    return (BatchResult(rows=[], relinked={}, errors=[], missing=[], entries=0),
            Context(index=index, refs=refs, year=index.year))


def _key_part(v: Any) -> bool:
    """A match key value the fast path can memoise on: equal keys then mean equal values
    (not so for 1 == 1.0 == True, which normalise differently)."""
    return v is None or type(v) is str


def _number(v: Any, hi: float) -> float | None:
    """``v`` as a float when the handler's ``number`` would accept it unchanged in
    [0, hi]; None sends the entry to the row engine (blank, str, bool, NaN, out of range)."""
    t = type(v)
    if (t is float or t is int) and 0 <= v <= hi:
        return float(v)
    return None


def _plan(make: Callable[..., Any], *args: Any) -> Any:
    """``make(*args)``, or None when a factor's values raise (a float() of a huge int): the
    key's entries then go to the row engine, which reports the error entry by entry."""
    try:
        return make(*args)
    except Exception:  # noqa: BLE001 - the row engine reports it, entry by entry
        return None


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
    plans: dict[tuple[str | None, str | None], Any] = {}
    kwh_of, isfinite = formulas.equipment_kwh, math.isfinite
    n = 0
    for entry_id, data in entries:
        plan = link = None
        if type(data) is dict and data.get(OVERRIDE_KEY) is None:
            get = data.get
            k, s, link = get(kind), get(sub), get(LINK_KEY)
            if (link is None or type(link) is int) and _key_part(k) and _key_part(s):
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
            active_w, ef, default_act, default_stb, standby_w = fv
            a, b = get("active_usage_hours_per_week"), get("standby_usage_hours_per_week")
            act = default_act if a is None else _number(a, HOURS_PER_WEEK)
            stb = default_stb if b is None else _number(b, HOURS_PER_WEEK)
            if act is not None and stb is not None and act + stb <= HOURS_PER_WEEK:
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
    v = factor.values
    active_w, ef = value(v, "active_power_w"), value(v, "ef_kg_co2eq_per_kwh")
    if active_w is None or ef is None:
        return factor.id, "no applicable factor", None
    # As the handler converts them (a blank default is 0.0; -0.0 kept, but not as power).
    return factor.id, "", (active_w, ef, value(v, "active_usage_hours_per_week", 0.0),
                           value(v, "standby_usage_hours_per_week", 0.0),
                           value(v, "standby_power_w", 0.0) or 0.0)


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
    plans: dict[tuple[str | None, str | None], Any] = {}
    rates: dict[str, Any] = {}
    to_eur_kg, isfinite, year = formulas.to_eur_kg, math.isfinite, index.year
    n = 0
    for entry_id, data in entries:
        plan = link = None
        if type(data) is dict and data.get(OVERRIDE_KEY) is None:
            get = data.get
            add, inst = get("purchase_additional_code"), get("purchase_institutional_code")
            link = get(LINK_KEY)
            if (link is None or type(link) is int) and _key_part(add) and _key_part(inst):
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
            amount = _number(get("total_spent_amount"), _AMOUNT_MAX)
            cur = get("currency") or "chf"
            if amount is not None and type(cur) is str:
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
                    kg = to_eur_kg(amount, rate, ef, ef_rate)
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
    factors = [(et, SCOPE_OF.get(et), per_fte, ef, fid)
               for fid, et, per_fte, ef in index.headcount()]
    if any(scope is None or not (abs(per_fte) <= _FACTOR_MAX and abs(ef) <= _FACTOR_MAX)
           for _, scope, per_fte, ef, _ in factors):
        compute_into(res, det, entries, index, ctx)  # rows the row engine rejects: its way
        return res
    rows, missing, reasons = res.rows, res.missing, res.missing_reasons
    n = 0
    for entry_id, data in entries:
        if type(data) is dict and data.get(OVERRIDE_KEY) is None:
            fte = _number(data.get("fte"), _FTE_MAX)
            if fte is not None:
                n += 1
                if not factors:
                    missing.append(entry_id)
                    reasons[entry_id] = "no applicable factor"
                    continue
                for et, scope, per_fte, ef, fid in factors:
                    units = fte * per_fte
                    rows.append((entry_id, et, scope, units * ef, units, fid))  # type: ignore[arg-type]
                continue
        compute_into(res, det, ((entry_id, data),), index, ctx)
    res.entries += n
    return res


def _paths() -> dict[int, FastPath]:
    """A fast path per type whose handler is the one it mirrors (a type moved to another
    handler silently loses its fast path rather than computing the old formula)."""
    mirrors: list[tuple[Any, FastPath]] = [(activity.equipment, equipment),
                                           (spend.purchase, purchase),
                                           (people.headcount, headcount)]
    out: dict[int, FastPath] = {}
    for det, handler in HANDLERS.items():
        for compute, fast in mirrors:
            if handler.compute is compute and det in STATIC_TYPES:
                if fast is purchase and det not in PURCHASE_DETS:
                    continue
                out[det] = fast
    return out


#: Data entry type → its fast path.
FAST_PATHS: dict[int, FastPath] = _paths()
