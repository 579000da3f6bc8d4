"""Buildings: rooms (A, one row per applicable energy), combustion (A), embodied energy (B)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbon_domain import names
from carbon_domain.handlers.base import Context, EntryError, Part, number, value
from carbon_domain.matching import FactorRecord
from carbon_domain.reference import ReferenceData

# Same order as the resolved room types: lighting, cooling, ventilation, heating_elec,
# heating_thermal. Both heating rows read the one heating intensity.
_KWH_KEYS = ("lighting_kwh_per_square_meter", "cooling_kwh_per_square_meter",
             "ventilation_kwh_per_square_meter", "heating_kwh_per_square_meter",
             "heating_kwh_per_square_meter")
_HEATING_ELEC, _HEATING_THERMAL = 3, 4


def room_surface(data: Mapping[str, Any], refs: ReferenceData) -> float:
    """The entry's own surface if it has one, else the building_rooms reference table."""
    if data.get("room_surface_square_meter") not in (None, ""):
        return number(data, "room_surface_square_meter")
    building, room = data.get("building_name"), data.get("room_name")
    found = refs.room_surface(building, room)
    if found is None:
        raise EntryError(f"no surface for room {room!r} of building {building!r} "
                         f"(not in the building rooms reference)")
    return found


def room(data: Mapping[str, Any], types: list[int], factor: FactorRecord | None,
         ctx: Context) -> list[Part]:
    """surface × kWh/m² × allocation ratio × EF (× conversion factor for heating).

    Only the heating row of the factor's energy type is written; the other one does not
    apply and is omitted rather than stored as 0 (docs/design.md §1). No 60100 rollup row.
    """
    assert factor is not None
    v = factor.values
    ef = value(v, "ef_kg_co2eq_per_kwh")
    if ef is None:
        return []
    base = room_surface(data, ctx.refs) * number(data, "room_allocation_ratio", 1.0, hi=1.0) * ef
    conv = value(v, "conversion_factor", 1.0) or 0.0
    energy = names.energy_type(v.get("energy_type"))
    out: list[Part] = []
    for i, (t, key) in enumerate(zip(types, _KWH_KEYS, strict=True)):
        if (i == _HEATING_ELEC and energy != "electric") or (
                i == _HEATING_THERMAL and energy != "thermal"):
            continue
        kwh = value(v, key)
        if kwh is not None:
            out.append((t, base * kwh * (conv if i >= _HEATING_ELEC else 1.0), None, factor.id))
    return out


def embodied(data: Mapping[str, Any], types: list[int], _factor: FactorRecord | None,
             ctx: Context) -> list[Part]:
    """surface × EF per m², one row per category factor of the building (else ``default``)."""
    found = ctx.index.embodied(data.get("building_name"))
    if not found:
        return []
    surface = room_surface(data, ctx.refs)
    return [(types[0], surface * ef, None, fid) for fid, ef in found]
