"""Fast paths of the engine for the simple types: equipment, purchases, headcount (the travel
types' are in ``engine_travel``; the plan cache all share in ``engine_plans``).

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
from typing import Any

from carbon_domain import formulas
from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.emission_types import SCOPE_OF
from carbon_domain.engine_plans import (
    UNSEEN,
    Entries,
    FastPath,
    new_result,
    plan_caches,
    safe_plan,
)
from carbon_domain.engine_rows import LINK_KEY, BatchResult, compute_into
from carbon_domain.engine_travel import plane, train
from carbon_domain.handlers import HANDLERS, activity, people, spend, travel
from carbon_domain.handlers.base import value
from carbon_domain.matching import MATCH_SPECS, PURCHASE_DETS, FactorIndex, FactorRecord
from carbon_domain.reference import ReferenceData
from carbon_domain.resolvers import STATIC_TYPES

HOURS_PER_WEEK = activity.HOURS_PER_WEEK
# Headcount: fte ≤ 1e6 with factor numbers ≤ 1e100 keeps fte × per-FTE × EF below 1e300,
# so every fast row is finite without a check per row (24 rows per entry).
_FTE_MAX = 1e6
_FACTOR_MAX = 1e100
# Spend: amounts above this go to the row engine (float() of a larger int may overflow).
_AMOUNT_MAX = 1e300
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
    res, ctx = new_result(index, refs)
    (et,) = STATIC_TYPES[det]
    scope = SCOPE_OF.get(et)
    spec = MATCH_SPECS[det]
    if scope is None or spec.tie_break or spec.subkind is None:
        compute_into(res, det, entries, index, ctx)
        return res
    kind, sub = spec.kind, spec.subkind
    rows, missing, reasons, relinked = res.rows, res.missing, res.missing_reasons, res.relinked
    plans, _ = plan_caches(index, refs, "equipment")
    kwh_of, isfinite, hmax = formulas.equipment_kwh, math.isfinite, HOURS_PER_WEEK
    n = 0
    for entry_id, data in entries:
        plan = link = None
        if type(data) is dict and data.get(OVERRIDE_KEY) is None:
            get = data.get
            k, s, link = get(kind), get(sub), get(LINK_KEY)
            if ((link is None or type(link) is int) and (k is None or type(k) is str)
                    and (s is None or type(s) is str)):
                plan = plans.get((k, s), UNSEEN)
                if plan is UNSEEN:
                    plan = plans[(k, s)] = safe_plan(_equipment_plan, index, data)
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
    res, ctx = new_result(index, refs)
    (et,) = STATIC_TYPES[det]
    scope = SCOPE_OF.get(et)
    if scope is None:
        compute_into(res, det, entries, index, ctx)
        return res
    rows, missing, reasons, relinked = res.rows, res.missing, res.missing_reasons, res.relinked
    plans, rates = plan_caches(index, refs, "purchase")
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
                plan = plans.get((add, inst), UNSEEN)
                if plan is UNSEEN:
                    plan = plans[(add, inst)] = safe_plan(_purchase_plan, index, data, refs)
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
                rate = rates.get(cur, UNSEEN)
                if rate is UNSEEN:
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
    res, ctx = new_result(index, refs)
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
