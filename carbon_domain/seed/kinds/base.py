"""What a data entry type contributes to the seed: its factor file and its row generator."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from carbon_domain.catalog import DataEntryType
from carbon_domain.seed.university import Unit, University

Cells = Sequence[object]
RowFn = Callable[[Unit], Cells]
FactorFn = Callable[[University, random.Random], Iterable[Cells]]


@dataclass(frozen=True, slots=True)
class EntryRows:
    """Row makers for one data entry file. ``miss`` makes a row no factor matches (only
    Strategy A types have one: Strategy B types always fall back to some factor)."""

    row: RowFn
    miss: RowFn | None = None


EntryFn = Callable[[University, random.Random], EntryRows]


@dataclass(frozen=True, slots=True)
class TypeSpec:
    det: DataEntryType
    factor_columns: tuple[str, ...]
    factors: FactorFn
    entry_columns: tuple[str, ...]   # the unit column is prepended by the generator
    entries: EntryFn
    labs_only: bool = False          # facility consumers are labs, never a facility itself
