"""One range rule for numbers, shared by CSV parsing (row errors) and the engine (entry errors
for data stored by other paths)."""

from __future__ import annotations

import math


def range_problem(name: str, value: float, lo: float | None, hi: float | None) -> str | None:
    """Why ``value`` is unusable for ``name``, or None."""
    if not math.isfinite(value):
        return f"{name}: {value!r} is not a finite number"
    if lo is not None and value < lo:
        return f"{name} must be at least {lo:g} (got {value:g})"
    if hi is not None and value > hi:
        return f"{name} must be at most {hi:g} (got {value:g})"
    return None
