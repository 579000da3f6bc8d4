"""Spend-based types: purchases 60–66, external clouds, external AI (Strategy A)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbon_domain import formulas, names
from carbon_domain.handlers.base import Context, EntryError, Part, number, rate, value
from carbon_domain.matching import FactorRecord


def _spend_kg(amount: float, currency: Any, factor: FactorRecord, ctx: Context) -> float | None:
    ef = value(factor.values, "ef_kg_co2eq_per_currency")
    if ef is None:
        return None
    return formulas.to_eur_kg(amount, rate(ctx, currency), ef,
                              rate(ctx, factor.values.get("currency") or "eur"))


def purchase(data: Mapping[str, Any], types: list[int], factor: FactorRecord | None,
             ctx: Context) -> list[Part]:
    """Spend (default CHF) in EUR × EF per EUR."""
    assert factor is not None
    kg = _spend_kg(number(data, "total_spent_amount"), data.get("currency") or "chf",
                   factor, ctx)
    return [] if kg is None else [(types[0], kg, None, factor.id)]


def cloud(data: Mapping[str, Any], types: list[int], factor: FactorRecord | None,
          ctx: Context) -> list[Part]:
    """Spend (default EUR) in EUR × EF per EUR."""
    assert factor is not None
    kg = _spend_kg(number(data, "spent_amount"), data.get("currency") or "eur", factor, ctx)
    return [] if kg is None else [(types[0], kg, None, factor.id)]


def ai(data: Mapping[str, Any], types: list[int], factor: FactorRecord | None,
       ctx: Context) -> list[Part]:
    """One row on the provider's leaf (design.md §1): requests/day × 5 × 46 × FTE × g / 1000."""
    assert factor is not None
    raw = data.get("requests_per_user_per_day")
    per_day = names.AI_REQUEST_BUCKETS.get(names.slug(raw) or "")
    if per_day is None:
        raise EntryError(f"requests_per_user_per_day: {raw!r} is not one of "
                         f"{', '.join(names.AI_REQUEST_BUCKETS)}")
    ef = value(factor.values, "ef_kg_co2eq_per_request")
    if ef is None:
        return []
    return [(types[0], formulas.ai_kg(per_day, number(data, "fte_count"), ef), None, factor.id)]
