"""The equipment and purchase formulas as SQL: a full recalculation's chunk of these types
can be computed by PostgreSQL itself, entries in and emission rows out in one statement,
with no entry's JSON crossing to Python (services/recalc/chunk_in_sql.py runs it).

Why: at 1M entries these types are 630k of the 1M entries, each ~13.5 µs of a chunk in
Python (read + JSON 7, engine 3, COPY 3.5 on the 2-core bench machine), where one
INSERT … SELECT that joins the entries to their factor plans takes ~2.5 µs.

Exactness, the same way as the fast paths (``engine_fast``): a plan is worked out in Python
per distinct match key, by the fast path's own plan function, and an entry is computed in
SQL only when it is ordinary in exactly the fast path's sense — an object without override,
a stored link that is an integer or absent, match keys that are strings or absent, numbers
in the handler's range — and, on top, when every number is 0 or between 1e-100 and 1e100.
That band keeps every product and quotient normal, so PostgreSQL's float8 arithmetic (IEEE
binary64, the same operations in the same order as the Python formula) never meets its
overflow or underflow errors and gives the same bits. Everything else (a missing factor, an
odd value, a huge number) is left to the Python engine, entry by entry. Numbers are read from
the same JSONB text both ways (``::numeric::float8`` and ``data::text`` parsed by orjson):
both are correctly rounded. ``tests/integration/test_chunk_in_sql.py`` checks rows and links
against ``compute_batch`` on random, adversarial entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carbon_domain import engine_fast
from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.emission_types import SCOPE_OF
from carbon_domain.engine_plans import UNSEEN, plan_caches, safe_plan
from carbon_domain.engine_rows import LINK_KEY
from carbon_domain.formulas import WEEKS_PER_YEAR
from carbon_domain.matching import MATCH_SPECS, FactorIndex
from carbon_domain.reference import ReferenceData
from carbon_domain.resolvers import STATIC_TYPES

BAND_LO, BAND_HI = 1e-100, 1e100

# Plan key: the match keys' texts (None: absent or JSON null), and for purchases the
# currency the fast path reads (``get("currency") or "chf"``).
Key = tuple[str | None, ...]
# Per key: (factor id, the formula's numbers), or None: the key's entries go to Python.
Plan = tuple[int, tuple[float, ...]] | None


def in_band(*xs: object) -> bool:
    """Every value a float or int (not bool) that is 0 or within [1e-100, 1e100] in size."""
    for x in xs:
        if type(x) is not float and type(x) is not int:
            return False
        if x != 0 and not BAND_LO <= abs(x) <= BAND_HI:
            return False
    return True


def _q(name: str) -> str:
    """A JSON key as an SQL literal (the keys are the code's own constants)."""
    assert "'" not in name
    return f"'{name}'"


def json_text(key: str) -> str:
    return f"d.data ->> {_q(key)}"


def text_or_absent(key: str) -> str:
    """The key holds a string, JSON null, or nothing: what the fast paths take as a key."""
    return f"coalesce(jsonb_typeof(d.data -> {_q(key)}), 'null') IN ('null', 'string')"


def absent(key: str) -> str:
    return f"coalesce(jsonb_typeof(d.data -> {_q(key)}), 'null') = 'null'"


def number(key: str) -> str:
    """The key's number as float8 when it is a JSON number whose text has at most 40
    characters and no sign, else NULL. JSONB prints numbers in full (no exponent), so such
    a number is 0 or within [1e-38, 1e40]: inside the band, and its float8 cast can neither
    fail nor differ from numeric's (which goes through the same text). Cheaper than numeric
    comparisons with the band's 101-digit bounds (32 → ~12 ms per 25,000 entries). The AND
    inside the CASE is evaluated left to right and stops at the first false."""
    x = f"d.data -> {_q(key)}"
    t = f"(d.data ->> {_q(key)})"
    return (f"CASE WHEN jsonb_typeof({x}) = 'number' AND length({t}) <= 40"
            f" AND left({t}, 1) <> '-' THEN {t}::float8 END")


# An entry the fast paths would take at all: an object, no override key, a stored link that
# is absent or a small non-negative integer literal (orjson reads "448" as int, "448.0" as
# float: the JSONB text is what both sides read). Stricter than the fast paths where that is
# cheaper (an override or link of JSON null goes to Python, which takes it as absent).
ORDINARY = (f"jsonb_typeof(d.data) = 'object' AND NOT d.data ? {_q(OVERRIDE_KEY)}"
            f" AND (NOT d.data ? {_q(LINK_KEY)} OR (jsonb_typeof(d.data -> {_q(LINK_KEY)})"
            f" = 'number' AND {json_text(LINK_KEY)} ~ '^[0-9]{{1,9}}$'))")
LINK = f"CASE WHEN d.data ? {_q(LINK_KEY)} THEN ({json_text(LINK_KEY)})::integer END"


@dataclass(frozen=True, slots=True)
class SqlFormula:
    """One type's formula in SQL. ``keys``: SQL of the plan key's parts (text or NULL) over
    ``d`` (data_entries); ``guard``: entries whose keys the plan can read; ``numbers``: SQL
    of the entry's numbers (float8, or NULL when not ordinary) as ``e.<name>``; ``params``:
    the plan's numbers as ``p.<name>``; ``kg``: the row's kg over ``e`` and ``p``, and
    ``usable``: the condition on them for a row to be computed here."""

    det: int
    emission_type: int
    scope: int
    keys: tuple[str, ...]
    guard: str
    numbers: dict[str, str]
    params: tuple[str, ...]
    kg: str
    usable: str
    plan: Callable[[FactorIndex, ReferenceData, Key], Plan]


def _equipment_plan(index: FactorIndex, refs: ReferenceData, key: Key) -> Plan:
    spec = MATCH_SPECS[index.det]
    assert spec.subkind is not None
    plans, _ = plan_caches(index, refs, "equipment")
    k, s = key
    plan = plans.get((k, s), UNSEEN)
    if plan is UNSEEN:  # the fast path's own plan, shared with it through the cache
        plan = plans[(k, s)] = safe_plan(engine_fast._equipment_plan, index,
                                         {spec.kind: k, spec.subkind: s})
    if plan is None:
        return None
    fid, _, fv = plan
    if fid is None or fv is None or not in_band(*fv):
        return None
    active_w, ef, act, stb, standby_w = fv
    return fid, (float(active_w), float(ef), float(act), float(stb), float(standby_w))


def _purchase_plan(index: FactorIndex, refs: ReferenceData, key: Key) -> Plan:
    plans, rates = plan_caches(index, refs, "purchase")
    add, inst, cur = key
    plan = plans.get((add, inst), UNSEEN)
    if plan is UNSEEN:
        plan = plans[(add, inst)] = safe_plan(
            engine_fast._purchase_plan, index,
            {"purchase_additional_code": add, "purchase_institutional_code": inst}, refs)
    if plan is None:
        return None
    fid, _, ef, ef_rate = plan
    if fid is None or ef is None or ef_rate is None:
        return None
    rate = rates.get(cur, UNSEEN)
    if rate is UNSEEN:
        rate = rates[cur] = refs.rate_to_eur(index.year, cur)
    if rate is None or not in_band(ef, ef_rate, rate):
        return None
    return fid, (float(rate), float(ef), float(ef_rate))


_HOURS = engine_fast.HOURS_PER_WEEK


def _equipment(det: int, et: int, scope: int) -> SqlFormula:
    spec = MATCH_SPECS[det]
    assert spec.subkind is not None
    a, b = "active_usage_hours_per_week", "standby_usage_hours_per_week"
    # Blank hours are the factor's defaults; the fast path's checks, in its order.
    act = "CASE WHEN e.a_blank THEN p.act ELSE e.a END"
    stb = "CASE WHEN e.b_blank THEN p.stb ELSE e.b END"
    return SqlFormula(
        det=det, emission_type=et, scope=scope,
        keys=(json_text(spec.kind), json_text(spec.subkind)),
        guard=f"{text_or_absent(spec.kind)} AND {text_or_absent(spec.subkind)}",
        numbers={"a": number(a), "a_blank": absent(a), "b": number(b), "b_blank": absent(b)},
        params=("active_w", "ef", "act", "stb", "standby_w"),
        # formulas.equipment_kwh(act, stb, active W, standby W) × EF, operation by operation
        kg=(f"(({act} * p.active_w + {stb} * p.standby_w) * {float(WEEKS_PER_YEAR)!r}::float8"
            f" / 1000.0::float8) * p.ef"),
        usable=(f"(e.a_blank OR e.a <= {_HOURS!r}) AND (e.b_blank OR e.b <= {_HOURS!r})"
                f" AND {act} + {stb} <= {_HOURS!r}"),
        plan=_equipment_plan)


def _purchase(det: int, et: int, scope: int) -> SqlFormula:
    cur = "d.data -> 'currency'"
    return SqlFormula(
        det=det, emission_type=et, scope=scope,
        keys=(json_text("purchase_additional_code"), json_text("purchase_institutional_code"),
              # ``get("currency") or "chf"``, when that is a string: absent, null or "" → chf
              f"CASE WHEN coalesce(jsonb_typeof({cur}), 'null') = 'null' THEN 'chf'"
              f" ELSE coalesce(nullif(d.data ->> 'currency', ''), 'chf') END"),
        guard=(f"{text_or_absent('purchase_additional_code')}"
               f" AND {text_or_absent('purchase_institutional_code')}"
               f" AND {text_or_absent('currency')}"),
        numbers={"amount": number("total_spent_amount")},
        params=("rate", "ef", "ef_rate"),
        # formulas.to_eur_kg(amount, rate, ef, ef rate) = amount × rate × ef / ef rate
        kg="e.amount * p.rate * p.ef / p.ef_rate",
        usable="e.amount IS NOT NULL",
        plan=_purchase_plan)


def _formulas() -> dict[int, SqlFormula]:
    """A formula per type whose fast path is the equipment or purchase one, under the
    fast path's own preconditions (a fixed emission type with a scope; for equipment a
    subkind and no tie break)."""
    out: dict[int, SqlFormula] = {}
    for det, fast in engine_fast.FAST_PATHS.items():
        types = STATIC_TYPES.get(det)
        scope = SCOPE_OF.get(types[0]) if types and len(types) == 1 else None
        if not types or scope is None:
            continue
        et = types[0]
        make: Any = None
        if fast is engine_fast.equipment:
            spec = MATCH_SPECS.get(det)
            if spec is not None and spec.subkind and not spec.tie_break:
                make = _equipment
        elif fast is engine_fast.purchase:
            make = _purchase
        if make is not None:
            out[det] = make(det, et, int(scope))
    return out


#: Data entry type → its formula in SQL.
SQL_FORMULAS: dict[int, SqlFormula] = _formulas()
