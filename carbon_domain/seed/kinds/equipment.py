"""Equipment (scientific 10, IT 11, other 12): Strategy A on equipment_class / sub_class.

Each class has a kind-only factor (blank sub_class) and one per sub-class, so an entry
with or without a sub-class always matches. Power draws are nameplate orders of magnitude;
the electricity EF is the Swiss consumer mix (~0.125 kg/kWh).
"""

from __future__ import annotations

import random

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.seed.kinds.base import EntryFn, EntryRows, FactorFn, TypeSpec
from carbon_domain.seed.sampling import Weighted
from carbon_domain.seed.university import Unit, University

EF_KWH = 0.125
HOURS_PER_WEEK = 168
# class → (weight, active W, standby W, default active h/week, default standby h/week,
#          sub-classes {name: (active W, standby W)})
Classes = dict[str, tuple[float, float, float, float, float, dict[str, tuple[float, float]]]]
CLASSES: dict[D, Classes] = {
    D.scientific: {
        "Spectrometers": (10, 250, 30, 20, 148, {}),
        "Microscopes": (12, 400, 40, 25, 143, {"Optical": (150, 15), "Electron": (3500, 600)}),
        "Centrifuges": (10, 900, 25, 10, 20, {"Benchtop": (600, 15), "Floor": (2500, 50)}),
        "PCR machines": (8, 700, 20, 15, 30, {}),
        "Incubators": (8, 300, 50, 168, 0, {"CO2": (350, 50), "Shaking": (500, 60)}),
        "Mass spectrometers": (4, 1500, 400, 60, 108, {}),
        "Chromatography systems": (6, 800, 120, 40, 128, {"HPLC": (700, 100), "GC": (1800, 200)}),
        "3D printers": (4, 350, 10, 15, 20, {}),
        "Oscilloscopes": (6, 120, 5, 20, 10, {}),
        "NMR spectrometers": (1, 8000, 3000, 80, 88, {}),
    },
    D.it: {
        "Laptop": (30, 45, 2, 40, 60, {"Standard": (45, 2), "Performance": (90, 3)}),
        "Desktop": (15, 120, 3, 40, 60, {"Standard": (100, 3), "Workstation": (350, 5)}),
        "Monitors": (30, 30, 0.5, 40, 128, {"24 inch": (25, 0.5), "32 inch": (45, 0.7)}),
        "Servers": (5, 450, 300, 168, 0, {"Rack 1U": (350, 250), "GPU node": (2500, 600)}),
        "Printers": (6, 500, 4, 5, 100, {}),
        "Network switches": (4, 60, 60, 168, 0, {}),
    },
    D.other: {
        "Lab Freezer / Frigde": (15, 400, 400, 168, 0, {"-20°C": (250, 250), "-80°C": (700, 700)}),
        "Fume hoods": (10, 300, 80, 40, 128, {}),
        "Refrigerators": (12, 150, 150, 168, 0, {}),
        "Coffee machines": (8, 1200, 8, 3, 50, {}),
        "Water baths": (6, 1000, 20, 10, 20, {}),
        "Autoclaves": (4, 6000, 150, 8, 40, {}),
    },
}
COLUMNS = ("equipment_class", "sub_class", "active_power_w", "standby_power_w",
           "active_usage_hours_per_week", "standby_usage_hours_per_week", "ef_kg_co2eq_per_kwh")
ENTRY_COLUMNS = ("equipment_id", "name", "equipment_class", "sub_class",
                 "active_usage_hours_per_week", "standby_usage_hours_per_week")
UNLISTED = "Unlisted equipment"
BRANDS = {D.scientific: ("Thermo Fisher", "Zeiss", "Eppendorf", "Agilent", "Bruker", "Leica",
                         "Olympus", "Shimadzu", "Mettler Toledo"),
          D.it: ("Dell", "HP", "Apple", "Lenovo", "Eizo", "Cisco", "Supermicro"),
          D.other: ("Liebherr", "Miele", "Waldner", "Memmert", "Jura", "Systec")}


def _factors(det: D) -> FactorFn:
    def rows(_uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for cls, (_w, act_w, stb_w, act_h, stb_h, subs) in CLASSES[det].items():
            out.append((cls, "", act_w, stb_w, act_h, stb_h, EF_KWH))
            out += [(cls, sub, a, s, act_h, stb_h, EF_KWH) for sub, (a, s) in subs.items()]
        return out
    return rows


def _entries(det: D) -> EntryFn:
    classes = CLASSES[det]
    pick = Weighted((cls, spec[0]) for cls, spec in classes.items())
    subs_of = {cls: tuple(spec[5]) for cls, spec in classes.items()}
    prefix = {D.scientific: "S", D.it: "I", D.other: "O"}[det]
    brands = BRANDS[det]

    def make(uni: University, rng: random.Random) -> EntryRows:
        def hours(default_active: float) -> tuple[str, str]:
            if rng.random() < 0.1:
                return "", ""  # blank: the factor's default usage hours apply
            if default_active >= HOURS_PER_WEEK:
                return "168", "0"
            active = rng.randrange(0, 81)
            return str(active), str(rng.randrange(0, HOURS_PER_WEEK - active + 1))

        def row(_u: Unit, cls: str | None = None) -> tuple[object, ...]:
            cls = cls or pick.pick(rng)
            subs = subs_of.get(cls, ())
            sub = subs[rng.randrange(len(subs))] if subs and rng.random() < 0.75 else ""
            act, stb = hours(classes[cls][3] if cls in classes else 0)
            brand = brands[rng.randrange(len(brands))]
            return (f"{prefix}{rng.randrange(10**6):06d}", f"{brand} {cls}".upper(), cls, sub,
                    act, stb)

        return EntryRows(row, lambda u: row(u, UNLISTED))
    return make


SPECS = tuple(TypeSpec(det, COLUMNS, _factors(det), ENTRY_COLUMNS, _entries(det))
              for det in (D.scientific, D.it, D.other))
