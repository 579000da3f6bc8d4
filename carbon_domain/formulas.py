"""The arithmetic of each formula, as plain functions of numbers (docs/design.md §1–2).

Handlers pull the inputs out of entry data and factor values and call these; keeping the
numbers here makes every formula unit-testable on its own.
"""

from __future__ import annotations

from carbon_domain.reference import haversine_km

WEEKS_PER_YEAR = 52
# Plane: a fixed detour/approach allowance per flight, as in the system we replace.
PLANE_EXTRA_KM = 95
# Train: rails are not straight; great-circle distance × 1.2.
TRAIN_DETOUR = 1.2
# External AI: requests/day × working days per week × working weeks per year.
AI_DAYS_PER_WEEK = 5
AI_WEEKS_PER_YEAR = 46
# The AI factor column is named per request in kg but carries grams (as coded upstream).
AI_GRAMS_PER_KG = 1000.0


def equipment_kwh(active_h: float, standby_h: float, active_w: float, standby_w: float) -> float:
    """Annual kWh from weekly usage hours and power draw."""
    return (active_h * active_w + standby_h * standby_w) * WEEKS_PER_YEAR / 1000.0


def plane_trip_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Per-trip distance: rounded great-circle km plus the fixed 95 km allowance."""
    return float(round(haversine_km(lat1, lon1, lat2, lon2)) + PLANE_EXTRA_KM)


def plane_kg(total_km: float, ef_per_km: float, rfi: float = 1.0) -> float:
    """kg for the total distance; RFI multiplies the emission, never the distance."""
    return total_km * ef_per_km * rfi


def train_trip_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(round(haversine_km(lat1, lon1, lat2, lon2) * TRAIN_DETOUR))


def train_country(origin: str | None, destination: str | None) -> str:
    """CH if both ends are Swiss, else the foreign destination, else the foreign origin,
    else rest of world (``RoW``)."""
    if origin == "CH" and destination == "CH":
        return "CH"
    if destination and destination != "CH":
        return destination
    if origin and origin != "CH":
        return origin
    return "RoW"


def to_eur_kg(amount: float, amount_rate: float, ef: float, ef_rate: float) -> float:
    """Spend → EUR, EF per factor currency → EF per EUR; rates are EUR per unit.

    amount × rate(amount cur) is EUR; ef / rate(ef cur) is kg per EUR (kg per unit ÷ EUR
    per unit). The system we replace multiplied the EF by the rate, which is inverted.
    """
    return amount * amount_rate * ef / ef_rate


def ai_kg(requests_per_day: float, fte: float, ef_grams_per_request: float) -> float:
    return (requests_per_day * AI_DAYS_PER_WEEK * AI_WEEKS_PER_YEAR * fte
            * ef_grams_per_request / AI_GRAMS_PER_KG)


def facility_share_kg(use: float, total_use: float, kg_sum: float) -> float | None:
    """This entry's share of a facility's emissions, by its share of the facility's use."""
    if total_use <= 0:
        return None
    return use / total_use * kg_sum
