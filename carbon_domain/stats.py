"""Module and report statistics, and read-time rollups over the emission tree (docs/design.md §2).

Pure functions over plain dicts: no DB. The stored ``by_emission_type`` map is sparse and
holds only the types rows are stored on (never a rollup entry, seed 000's decision record);
any subtree total is derived here from the tree, so nothing can be counted twice.

Numbers: every stored kg is rounded to ``KG_DECIMALS`` once, and the scope totals are summed
from those rounded values with ``math.fsum``. ``total`` is then computed as the plain float
expression ``scope1 + scope2 + scope3``, so a consumer re-adding the three scopes gets
exactly ``total``; ``sum(by_emission_type.values())`` agrees with it up to float rounding
(tests compare with a 1e-9 relative tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypedDict

from carbon_domain.catalog import MODULE_EMISSION_ROOTS, ModuleType
from carbon_domain.emission_types import SCOPE_OF, STORABLE, EmissionType

#: The stats' ``formula_version`` when no per-type versions are given. Each data entry type
#: has its own version (carbon_domain/formula_versions.py); an aggregation records, per type,
#: the version its rows were computed with (``{"it": "2026.11-1", …}``).
FORMULA_VERSION: str = "2026.11-1"
FormulaVersions = str | Mapping[str, str]
#: Stats maps as read from JSON (str keys) or built from a GROUP BY (int keys). A union, not
#: ``Mapping[int | str, float]``: Mapping is invariant in its key type, so a plain
#: ``dict[int, float]`` would not type-check against the latter.
KgByType = Mapping[int, float] | Mapping[str, float]


class RollupNode(TypedDict):
    """A node of a rollup tree: ``kg`` of its subtree, ``own_kg`` stored on itself."""

    value: int
    path: str
    scope: int | None
    kg: float
    own_kg: float
    children: list[RollupNode]


#: Milligram precision: far below any factor's accuracy, and keeps the JSON short.
KG_DECIMALS: int = 6


def module_stats(
    kg_by_type: KgByType,
    entry_count: int,
    missing_factors: int,
    computed_at: datetime | None = None,
    formula_version: FormulaVersions = FORMULA_VERSION,
) -> dict[str, Any]:
    """Stats JSON of one carbon report module from its per-type kg sums.

    ``kg_by_type`` is the ``GROUP BY emission_type_id`` of the module's rows. A type without
    a scope (or unknown) raises ValueError: such a row would be a rollup and double-count.
    Zero sums are left out, so the map stays sparse.
    """
    return _stats(_normalise(kg_by_type), entry_count, missing_factors, computed_at,
                  formula_version)


def _stats(kg: dict[int, float], entry_count: int, missing_factors: int,
           computed_at: datetime | None, formula_version: FormulaVersions = FORMULA_VERSION
           ) -> dict[str, Any]:
    """``module_stats`` from an already normalised map (storable int keys, finite kg)."""
    if entry_count < 0 or missing_factors < 0:
        raise ValueError(
            f"counts must be non-negative: entry_count={entry_count}, "
            f"missing_factors={missing_factors}"
        )
    by_type = _rounded(kg)
    scopes: dict[int | None, list[float]] = {1: [], 2: [], 3: []}
    for type_id, type_kg in by_type.items():
        scopes[SCOPE_OF[type_id]].append(type_kg)
    scope1, scope2, scope3 = (math.fsum(scopes[s]) for s in (1, 2, 3))
    return {
        "scope1": scope1,
        "scope2": scope2,
        "scope3": scope3,
        "total": scope1 + scope2 + scope3,
        "by_emission_type": {str(k): v for k, v in sorted(by_type.items())},
        "entry_count": int(entry_count),
        "missing_factors": int(missing_factors),
        "computed_at": _iso_utc(computed_at),
        "formula_version": (formula_version if isinstance(formula_version, str)
                            else dict(sorted(formula_version.items()))),
    }


def report_stats(
    module_stats_list: Iterable[Mapping[str, Any] | None],
    computed_at: datetime | None = None,
) -> dict[str, Any]:
    """Stats JSON of a carbon report: the sum of its modules' stats.

    Scope totals are re-derived from the merged ``by_emission_type`` (same code path as a
    module), not added up from the modules' scope fields, so the invariants hold by
    construction. ``None`` (a module never computed) contributes nothing.
    """
    merged: dict[int, list[float]] = {}
    entry_count = missing_factors = 0
    versions: dict[str, str] = {}  # the modules' per-type versions, side by side
    for stats in module_stats_list:
        if not stats:
            continue
        if isinstance(stats.get("formula_version"), Mapping):
            versions.update(stats["formula_version"])
        for type_id, kg in _normalise(stats.get("by_emission_type") or {}).items():
            merged.setdefault(type_id, []).append(kg)
        entry_count += int(stats.get("entry_count", 0))
        missing_factors += int(stats.get("missing_factors", 0))
    # Already normalised: storable int keys, and fsum of finite values is finite (it raises
    # OverflowError instead), so the second _normalise module_stats would run is skipped.
    kg_by_type = {type_id: math.fsum(kgs) for type_id, kgs in merged.items()}
    return _stats(kg_by_type, entry_count, missing_factors, computed_at,
                  versions or FORMULA_VERSION)


def rollup(by_emission_type: KgByType, node: int) -> float:
    """Total kg of ``node``: its own stored value plus that of every descendant.

    Rows may be stored on scoped internal nodes (fallbacks such as 60200), so the whole
    subtree is summed, not only its leaves.
    """
    kg = _normalise(by_emission_type)
    return math.fsum(kg.get(int(m), 0.0) for m in _node(node).subtree())


def rollup_tree(
    by_emission_type: KgByType,
    roots: Iterable[int],
    include_zero: bool = False,
) -> list[RollupNode]:
    """Treemap-ready trees under ``roots``.

    Each node is ``{value, path, scope, kg, own_kg, children}``: ``kg`` is the rollup and
    ``own_kg`` the value stored on the node itself (non-zero only for fallback rows on
    internal nodes, which a treemap shows as the gap between a node and its children).
    Branches with no non-zero stored value are left out unless ``include_zero``.
    """
    kg = _normalise(by_emission_type)

    def build(node: EmissionType) -> RollupNode | None:
        kids = [c for c in (build(child) for child in node.children()) if c is not None]
        own = kg.get(int(node), 0.0)
        if not include_zero and own == 0.0 and not kids:
            return None
        return {
            "value": int(node),
            "path": node.path,
            "scope": node.scope,
            "kg": math.fsum([own, *(c["kg"] for c in kids)]),
            "own_kg": own,
            "children": kids,
        }

    return [t for t in (build(_node(r)) for r in roots) if t is not None]


def module_rollup_tree(
    module_type_id: int,
    by_emission_type: KgByType,
    include_zero: bool = False,
) -> list[RollupNode]:
    """``rollup_tree`` over the module's emission roots (catalog.MODULE_EMISSION_ROOTS)."""
    roots = MODULE_EMISSION_ROOTS[ModuleType(int(module_type_id))]
    return rollup_tree(by_emission_type, roots, include_zero=include_zero)


def _node(value: int) -> EmissionType:
    try:
        return EmissionType(int(value))
    except ValueError:
        raise ValueError(f"unknown emission type {value!r}") from None


#: Every storable type id, by itself and by its JSON (str) key: the aggregation normalises
#: ~4,000 module stats of ~30 types for 500 changed reports, and building an EmissionType
#: per key cost ~60 % of its CPU (0.8 s of 1.3 s). Any other key takes the checked path.
_STORABLE_KEY: dict[int | str, int] = {
    **{t: t for t in STORABLE}, **{str(t): t for t in STORABLE}}


def _type_id(key: int | str) -> int:
    type_id = int(_node(int(key)))
    if SCOPE_OF[type_id] is None:
        # A scope-less node only ever held rollup rows in the system we replace.
        raise ValueError(
            f"emission type {type_id} ({EmissionType(type_id).path}) has no scope; "
            "rows are stored only on scoped types"
        )
    return type_id


def _normalise(by_type: KgByType) -> dict[int, float]:
    """Int keys (JSON gives str), every key storable, every value finite; duplicates add up."""
    out: dict[int, float] = {}
    known = _STORABLE_KEY.get
    for key, value in by_type.items():
        type_id = known(key)
        if type_id is None:
            type_id = _type_id(key)
        kg = float(value)
        if not math.isfinite(kg):
            raise ValueError(f"kg for emission type {type_id} is not finite: {value!r}")
        out[type_id] = out.get(type_id, 0.0) + kg
    return out


def _rounded(by_type: Mapping[int, float]) -> dict[int, float]:
    # "+ 0.0" turns -0.0 into 0.0 so it is dropped like any other zero.
    rounded = {k: round(v, KG_DECIMALS) + 0.0 for k, v in by_type.items()}
    return {k: v for k, v in rounded.items() if v != 0.0}


def _iso_utc(at: datetime | None) -> str:
    if at is None:
        at = datetime.now(UTC)
    elif at.tzinfo is None:
        # A naive time is ambiguous (local or UTC?); refuse rather than guess.
        raise ValueError("computed_at must be timezone-aware")
    return _iso_of(at)


@lru_cache(maxsize=4)
def _iso_of(at: datetime) -> str:
    # One aggregation stamps ~1,100 stats with the same time: format it once.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The key the stored JSON no longer holds: ``stats_computed_at`` columns (migration 0017).
COMPUTED_AT = "computed_at"


def stored_form(stats: Mapping[str, Any]) -> dict[str, Any]:
    """Stats as stored: without ``computed_at``, which has a column of its own (a stamp of
    an unchanged row then rewrites a timestamp, not the compressed JSON)."""
    return {k: v for k, v in stats.items() if k != COMPUTED_AT}


def computed_at_text(at: datetime | None) -> str | None:
    """A ``stats_computed_at`` as the stats show it (ISO 8601 UTC, as ``module_stats``
    writes it); None for a row without a time."""
    return _iso_utc(at) if at is not None else None


def with_computed_at(stats: Mapping[str, Any] | None, computed_at: datetime | None
                     ) -> dict[str, Any] | None:
    """Stored stats as every reader shows them: with ``computed_at`` from the row's
    ``stats_computed_at`` column. None stays None (never computed)."""
    if stats is None:
        return None
    return {**stats, COMPUTED_AT: computed_at_text(computed_at)}
