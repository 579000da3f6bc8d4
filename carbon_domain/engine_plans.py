"""What every fast path of the engine shares: the plan cache of a factor index (per kind of
fast path, across the chunks of a worker), an empty result, and a plan maker that never raises.
The fast paths themselves are in ``engine_fast`` (simple types) and ``engine_travel``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from weakref import WeakKeyDictionary

from carbon_domain.engine_rows import BatchResult
from carbon_domain.handlers import Context
from carbon_domain.matching import FactorIndex
from carbon_domain.reference import ReferenceData

Entries = Iterable[tuple[int, dict[str, Any]]]
FastPath = Callable[[int, Entries, FactorIndex, ReferenceData], BatchResult]

# Plans kept per factor index, across the chunks of a worker (the index is cached there):
# purchase keys are nearly unique per entry, so a per-chunk memo would barely help.
PLAN_LIMIT = 200_000
UNSEEN = object()
_CACHE: WeakKeyDictionary[FactorIndex, tuple[ReferenceData, dict[Any, Any], dict[Any, Any]]] = (
    WeakKeyDictionary())


def new_result(index: FactorIndex, refs: ReferenceData) -> tuple[BatchResult, Context]:
    return (BatchResult(rows=[], relinked={}, errors=[], missing=[], entries=0),
            Context(index=index, refs=refs, year=index.year))


def plan_caches(index: FactorIndex, refs: ReferenceData, kind: str
                ) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(``kind``'s plans by match key, EUR rates by currency) of this index and reference
    set. A plan depends only on the index (its factors and year), the reference data and
    the key; ``kind`` keeps one fast path's plans from another's should an index be used
    with a type it was not built for."""
    hit = _CACHE.get(index)
    if hit is None or hit[0] is not refs:
        hit = _CACHE[index] = (refs, {}, {})
    plans = hit[1].setdefault(kind, {})
    if len(plans) >= PLAN_LIMIT:
        plans.clear()
    return plans, hit[2]


def safe_plan(make: Callable[..., Any], *args: Any) -> Any:
    """``make(*args)``, or None when a factor's values raise (a float() of a huge int): the
    key's entries then go to the row engine, which reports the error entry by entry."""
    try:
        return make(*args)
    except Exception:  # noqa: BLE001 - the row engine reports it, entry by entry
        return None
