"""Research facilities (70) and animal facilities (71): labs pay a share of a platform.

The researchfacility_id of every factor is the institutional_id of a seeded facility unit.
The sums written here (kg_co2eq_sum, total_use, kg_co2eq_sum_<src>) are plausible
placeholders: before these types are recalculated the pipeline recomputes them from the
facility unit's own emissions and its consumers' use. The shares are the operator's input.
"""

from __future__ import annotations

import random

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.csv_rows.schemas import FACILITY_SOURCES
from carbon_domain.seed.kinds.base import EntryRows, TypeSpec
from carbon_domain.seed.sampling import Weighted, lognormal
from carbon_domain.seed.university import Facility, Unit, University

WEIGHT = {"SCITAS": 40, "CMi": 20, "BIOP": 20, "RCP": 15, "CIBM": 5}
# use unit → (median use per entry, lo, hi, placeholder facility total use)
USE = {"hours": (200, 1, 5000, 20000), "CHF": (3000, 50, 100000, 400000),
       "housings": (40, 1, 600, 3000)}
ANIMAL_SHARE = {"mice": 0.85, "fish": 0.15}
ANIMAL_WEIGHT = Weighted([("mice", 80), ("fish", 20)])
MISSING_ID = "RF-UNKNOWN"


def _of(uni: University, det: D) -> list[Facility]:
    return [f for f in uni.facilities if f.det == det]


def _use(rng: random.Random, unit: str) -> str:
    median, lo, hi, _total = USE[unit]
    return f"{lognormal(rng, median, 1.0, lo, hi):.1f}"


def _common_factors(uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
    return [(f.unit.inst_id, f.short, f.use_unit, 150000.0, USE[f.use_unit][3])
            for f in _of(uni, D.research_facilities)]


def _common(uni: University, rng: random.Random) -> EntryRows:
    pick = Weighted((f, WEIGHT.get(f.short, 10)) for f in _of(uni, D.research_facilities))

    def row(_u: Unit) -> tuple[object, ...]:
        f = pick.pick(rng)
        return (f.unit.inst_id, f.short, _use(rng, f.use_unit), f.use_unit)

    def miss(_u: Unit) -> tuple[object, ...]:
        return (MISSING_ID, "Decommissioned platform", "10.0", "hours")
    return EntryRows(row, miss)


def _animal_factors(uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for f in _of(uni, D.mice_and_fish_animal_facilities):
        for animal in f.animals:
            share = ANIMAL_SHARE[animal]
            out.append((f.unit.inst_id, f.short, animal, f.use_unit, "",
                        USE[f.use_unit][3] * share, *([share] * len(FACILITY_SOURCES)),
                        *([20000.0] * len(FACILITY_SOURCES))))
    return out


def _animals(uni: University, rng: random.Random) -> EntryRows:
    facilities = _of(uni, D.mice_and_fish_animal_facilities)

    def row(_u: Unit) -> tuple[object, ...]:
        f = facilities[rng.randrange(len(facilities))]
        animal = ANIMAL_WEIGHT.pick(rng)
        return (f.unit.inst_id, f.short, animal, _use(rng, f.use_unit), f.use_unit)

    def miss(_u: Unit) -> tuple[object, ...]:
        return (MISSING_ID, "Decommissioned animal facility", "mice", "5.0", "housings")
    return EntryRows(row, miss)


SPECS = (
    TypeSpec(D.research_facilities, ("researchfacility_id", "researchfacility_name", "use_unit",
                                     "kg_co2eq_sum", "total_use"), _common_factors,
             ("researchfacility_id", "researchfacility_name", "use", "use_unit"), _common,
             labs_only=True),
    TypeSpec(D.mice_and_fish_animal_facilities,
             ("researchfacility_id", "researchfacility_name", "researchfacility_type",
              "use_unit", "kg_co2eq_sum", "total_use",
              *(f"{s}_share" for s in FACILITY_SOURCES),
              *(f"kg_co2eq_sum_{s}" for s in FACILITY_SOURCES)), _animal_factors,
             ("researchfacility_id", "researchfacility_name", "researchfacility_type", "use",
              "use_unit"), _animals, labs_only=True),
)
