"""Equipment, process emissions and additional purchases: Strategy A, one row per entry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbon_domain import formulas
from carbon_domain.handlers.base import Context, EntryError, Part, number, value
from carbon_domain.matching import FactorRecord

HOURS_PER_WEEK = 168.0


def equipment(data: Mapping[str, Any], types: list[int], factor: FactorRecord | None,
              ctx: Context) -> list[Part]:
    """Annual kWh from weekly hours × power, × EF per kWh. Blank hours take the factor's
    default usage hours (then 0), as the system we replace did."""
    assert factor is not None
    # The factor's five values, converted once per factor and batch (a 10,000-entry chunk
    # matches a few dozen factors): 5 float conversions less per entry.
    key = ("equipment", factor.id)
    fv = ctx.memo.get(key)
    if fv is None:
        fv = ctx.memo[key] = equipment_numbers(factor.values)
    active_w, ef, default_act, default_stb, standby_w = fv
    if active_w is None or ef is None:
        return []
    act = number(data, "active_usage_hours_per_week", default_act, hi=HOURS_PER_WEEK)
    stb = number(data, "standby_usage_hours_per_week", default_stb, hi=HOURS_PER_WEEK)
    if act + stb > HOURS_PER_WEEK:
        raise EntryError(f"active + standby usage hours per week exceed 168 (got {act + stb:g})")
    kwh = formulas.equipment_kwh(act, stb, active_w, standby_w)
    return [(types[0], kwh * ef, None, factor.id)]


def equipment_numbers(v: Mapping[str, Any]) -> tuple[float | None, float | None, float | None,
                                                     float | None, float]:
    """An equipment factor's (active W, EF per kWh, default active h, default standby h,
    standby W) as the formula reads them (also the engine's fast path: engine_fast.py)."""
    return (value(v, "active_power_w"), value(v, "ef_kg_co2eq_per_kwh"),
            value(v, "active_usage_hours_per_week", 0.0),
            value(v, "standby_usage_hours_per_week", 0.0),
            value(v, "standby_power_w", 0.0) or 0.0)


def quantity_per_unit(data: Mapping[str, Any], types: list[int], factor: FactorRecord | None,
                      ctx: Context) -> list[Part]:
    """quantity × EF per unit: kg of gas × its GWP (process emissions), or fuel in the
    factor's unit (kWh, kg, …) × its EF (energy combustion)."""
    assert factor is not None
    ef = value(factor.values, "ef_kg_co2eq_per_unit")
    if ef is None:
        return []
    return [(types[0], number(data, "quantity") * ef, None, factor.id)]


def additional_purchase(data: Mapping[str, Any], types: list[int], factor: FactorRecord | None,
                        ctx: Context) -> list[Part]:
    """annual consumption × coefficient to kg (default 1) × EF per kg."""
    assert factor is not None
    ef = value(factor.values, "ef_kg_co2eq_per_kg")
    if ef is None:
        return []
    kg_used = number(data, "annual_consumption") * number(data, "coef_to_kg", 1.0)
    return [(types[0], kg_used * ef, None, factor.id)]
