"""Headcount (member, student): Strategy B, one row per headcount factor of the year."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbon_domain.handlers.base import Context, Part, number
from carbon_domain.matching import FactorRecord


def headcount(data: Mapping[str, Any], types: list[int], _factor: FactorRecord | None,
              ctx: Context) -> list[Part]:
    """fte × units per FTE × EF per unit, on the factor's own (most specific) type.

    additional_value is the quantity in the factor's unit (kg of food or waste, km).
    No rollup row: the headcount total is derived from the tree at read time (docs/design.md §1).
    """
    fte = number(data, "fte")
    out: list[Part] = []
    for fid, et, per_fte, ef in ctx.index.headcount():
        units = fte * per_fte
        out.append((et, units * ef, units, fid))
    return out
