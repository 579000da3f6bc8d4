"""Cheap seeded sampling for the row generators.

Rows are written at >100k/s, so a draw must cost about one ``random()`` call: weighted
choices bisect a precomputed cumulative table instead of calling ``Random.choices``.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """A fixed weighted choice: ``pick(rng)`` is one ``random()`` and one bisect."""

    __slots__ = ("items", "_cum", "_total")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        kept = [(item, float(w)) for item, w in pairs if w > 0]
        if not kept:
            raise ValueError("a weighted choice needs at least one positive weight")
        self.items: list[T] = [item for item, _ in kept]
        self._cum = list(accumulate(w for _, w in kept))
        self._total = self._cum[-1]

    def pick(self, rng: random.Random) -> T:
        i = bisect_right(self._cum, rng.random() * self._total)
        return self.items[min(i, len(self.items) - 1)]  # float edge: never past the end

    def __len__(self) -> int:
        return len(self.items)


def uniform(items: Sequence[T]) -> Weighted[T]:
    return Weighted((item, 1.0) for item in items)


def lognormal(rng: random.Random, median: float, sigma: float, lo: float, hi: float) -> float:
    """A right-skewed amount (spend, quantities), clipped to a realistic range.

    ``gauss`` caches its second Box–Muller value, so this is about half the cost of
    ``lognormvariate``.
    """
    return min(hi, max(lo, median * math.exp(sigma * rng.gauss())))


def derived_rng(seed: int, name: str) -> random.Random:
    """An independent stream per file: changing one type's row count never shifts another
    file's bytes. String seeds hash with SHA-512, independent of PYTHONHASHSEED."""
    return random.Random(f"carbon-seed:{seed}:{name}")


def days_of(year: int) -> list[str]:
    start = date(year, 1, 1)
    n = (date(year + 1, 1, 1) - start).days
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]
