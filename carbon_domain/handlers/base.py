"""What a handler is, and the helpers every handler uses to read entry data.

A handler turns one entry (its data, resolved emission types and, for Strategy A, the
matched factor) into row parts ``(emission_type_id, kg, additional_value, factor_id)``.
An empty result means "no applicable factor" (counted as missing); ``EntryError`` means the
entry's own data is unusable (reported as an error). Parts are plain tuples: the engine
calls handlers in a hot loop over hundreds of thousands of entries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from carbon_domain.matching import FactorIndex, FactorRecord
from carbon_domain.numbers import range_problem
from carbon_domain.reference import ReferenceData

Part = tuple[int, float, float | None, int | None]
Compute = Callable[[Mapping[str, Any], list[int], "FactorRecord | None", "Context"], list[Part]]


class EntryError(ValueError):
    """The entry's data cannot be computed; the message is the reason shown to operators."""


@dataclass(slots=True)
class Context:
    index: FactorIndex
    refs: ReferenceData
    year: int | None
    memo: dict[Any, Any] = field(default_factory=dict)  # per-batch caches (route distances)


@dataclass(frozen=True, slots=True)
class Handler:
    det: int
    strategy: str  # "A" (linked factor, matched by the engine) or "B" (handler queries)
    compute: Compute


def number(data: Mapping[str, Any], key: str, default: float | None = None, *,
           lo: float | None = 0.0, hi: float | None = None) -> float:
    """A finite number from entry data (stored as float at ingest, maybe str if manual)."""
    v = data.get(key)
    if v is None or v == "":
        if default is None:
            raise EntryError(f"{key} is missing")
        return default
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise EntryError(f"{key}: {v!r} is not a number") from None
    problem = range_problem(key, x, lo, hi)
    if problem:
        raise EntryError(problem)
    return x


def value(values: Mapping[str, Any], key: str, default: float | None = None) -> float | None:
    """A factor value as float, or ``default`` when absent / not numeric."""
    v = values.get(key, default)
    if v is None:
        return default
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def rate(ctx: Context, currency: Any) -> float:
    r = ctx.refs.rate_to_eur(ctx.year, currency)
    if r is None:
        raise EntryError(f"no exchange rate for {currency!r} in {ctx.year}")
    return r
