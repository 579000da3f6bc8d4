"""Buildings: rooms (30, A on building / room type), combustion (31, A on fuel name) and
embodied energy (32, B per building and category with a ``default`` fallback).

Rooms come from the generated building_rooms reference file, so room entries carry no
surface of their own (the formula looks it up, as for a real upload).
"""

from __future__ import annotations

import random

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.seed.kinds.base import EntryRows, TypeSpec
from carbon_domain.seed.sampling import Weighted, lognormal
from carbon_domain.seed.university import Room, Unit, University, location

EF_ELECTRICITY = 0.125
# The room formula multiplies every energy by the one EF (electricity); heating then
# applies conversion_factor: a heat pump needs ~1/3 kWh of electricity per kWh of heat,
# district heating emits ~0.2 kg/kWh, i.e. 1.6 × the electricity EF.
CONVERSION = {"electric": 0.33, "thermal": 1.6}
# room type → heating, cooling, ventilation, lighting (kWh per m² and year)
INTENSITY = {
    "office": (90, 15, 20, 15), "laboratories": (150, 40, 120, 25),
    "archives": (60, 5, 10, 5), "libraries": (90, 15, 20, 20),
    "auditoriums": (100, 20, 40, 15), "miscellaneous": (70, 5, 10, 8),
}
EMBODIED = (("new-tech", 12.0), ("new-env", 9.0), ("ren-tech", 6.0), ("ren-env", 4.0),
            ("demolition", 0.8))
# (name as written in files, unit, kg CO2-eq per unit, weight, median quantity, lo, hi)
FUELS = (
    ("Natural gas", "kWh", 0.228, 40, 40000, 1000, 800000),
    ("Heating oil", "kWh", 0.301, 15, 20000, 500, 400000),
    ("Biomethane", "kWh", 0.08, 10, 15000, 500, 300000),
    ("Propane", "kWh", 0.27, 3, 3000, 100, 50000),
    ("Pellets", "kg", 0.11, 10, 5000, 200, 100000),
    ("Forest chips", "kg", 0.06, 5, 8000, 200, 200000),
    ("Wood logs", "kg", 0.05, 5, 2000, 100, 40000),
)
FUEL_PICK = Weighted((f, f[3]) for f in FUELS)
ROOM_COLUMNS = ("building_name", "room_type", "ef_kg_co2eq_per_kwh",
                "heating_kwh_per_square_meter", "cooling_kwh_per_square_meter",
                "ventilation_kwh_per_square_meter", "lighting_kwh_per_square_meter",
                "energy_type", "conversion_factor")
UNKNOWN_BUILDING = "ZZ"


def _room_factors(uni: University, rng: random.Random) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for b in uni.buildings:
        energy = "electric" if rng.random() < 0.4 else "thermal"
        age = rng.uniform(0.8, 1.25)  # older envelopes need more heating and ventilation
        for rtype, (heat, cool, vent, light) in INTENSITY.items():
            out.append((b, rtype, EF_ELECTRICITY, round(heat * age, 1), cool,
                        round(vent * age, 1), light, energy, CONVERSION[energy]))
    return out


def _pick_room(uni: University, unit: Unit, rng: random.Random) -> Room:
    rooms = uni.rooms_by_building.get(unit.building) or uni.rooms
    return rooms[rng.randrange(len(rooms))]


def _ratio(rng: random.Random, room_type: str) -> str:
    if room_type in ("libraries", "auditoriums"):
        return f"{rng.uniform(0.05, 0.3):.2f}"  # shared by many units
    if room_type == "office" and rng.random() < 0.6:
        return "1"
    return f"{rng.uniform(0.1, 1.0):.2f}"


def _rooms(uni: University, rng: random.Random) -> EntryRows:
    def row(u: Unit) -> tuple[object, ...]:
        r = _pick_room(uni, u, rng)
        return (location(r.building), r.building, r.name, r.room_type,
                _ratio(rng, r.room_type))

    def miss(u: Unit) -> tuple[object, ...]:
        return ("ECUBLENS", UNKNOWN_BUILDING, f"{UNKNOWN_BUILDING} 001", "office", "1")
    return EntryRows(row, miss)


def _combustion_factors(_uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
    return [(name, unit, ef) for name, unit, ef, *_ in FUELS]


def _combustion(uni: University, rng: random.Random) -> EntryRows:
    def row(_u: Unit) -> tuple[object, ...]:
        name, unit, _ef, _w, median, lo, hi = FUEL_PICK.pick(rng)
        return (name, unit, f"{lognormal(rng, median, 0.8, lo, hi):.0f}")
    return EntryRows(row, lambda _u: ("Coal", "kg", f"{rng.uniform(100, 5000):.0f}"))


def _embodied_factors(uni: University, rng: random.Random) -> list[tuple[object, ...]]:
    # Every third building has no survey of its own and takes the ``default`` factors.
    surveyed = [b for i, b in enumerate(uni.buildings) if i % 3 != 2]
    out: list[tuple[object, ...]] = []
    for b in [*surveyed, "default"]:
        scale = 1.0 if b == "default" else rng.uniform(0.75, 1.25)
        out += [(b, cat, round(ef * scale, 3)) for cat, ef in EMBODIED]
    return out


def _embodied(uni: University, rng: random.Random) -> EntryRows:
    def row(u: Unit) -> tuple[object, ...]:
        r = _pick_room(uni, u, rng)
        return (r.building, r.name, r.surface)
    return EntryRows(row)


SPECS = (
    TypeSpec(D.building, ROOM_COLUMNS, _room_factors,
             ("building_location", "building_name", "room_name", "room_type",
              "room_allocation_ratio"), _rooms),
    TypeSpec(D.energy_combustion, ("name", "unit", "ef_kg_co2eq_per_unit"), _combustion_factors,
             ("name", "unit", "quantity"), _combustion),
    TypeSpec(D.building_embodied_energy, ("building_name", "category", "ef_kgco2eq_per_m2"),
             _embodied_factors, ("building_name", "room_name", "room_surface_square_meter"),
             _embodied),
)
