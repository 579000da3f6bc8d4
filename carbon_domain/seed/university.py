"""The synthetic university: unit hierarchy, research facilities, buildings and rooms.

Everything here is small (bounded by the unit and room counts, never by the entry count),
so it is built in memory once and shared by every row generator.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from carbon_domain.seed.sampling import Weighted, days_of, derived_rng

FACULTIES = (
    ("ENAC", "School of Architecture, Civil and Environmental Engineering"),
    ("SB", "School of Basic Sciences"),
    ("STI", "School of Engineering"),
    ("IC", "School of Computer and Communication Sciences"),
    ("SV", "School of Life Sciences"),
    ("CDM", "College of Management of Technology"),
    ("CDH", "College of Humanities"),
)
INSTITUTE_TOPICS = (
    "Civil Engineering", "Environmental Engineering", "Architecture", "Physics", "Chemistry",
    "Mathematics", "Materials Science", "Mechanical Engineering", "Electrical Engineering",
    "Bioengineering", "Computer Science", "Communication Systems", "Neuroscience",
    "Infectious Diseases", "Cancer Research", "Technology Management", "Digital Humanities",
    "Energy", "Microengineering", "Urban Systems",
)
LAB_TOPICS = (
    "Soil Mechanics", "Hydraulic Constructions", "Atmospheric Processes", "Urban Ecology",
    "Structural Concrete", "Quantum Optics", "Photonic Systems", "Astrophysics",
    "Catalysis", "Organic Synthesis", "Computational Chemistry", "Polymers",
    "Applied Mechanics", "Thermal Sciences", "Robotic Systems", "Power Electronics",
    "Signal Processing", "Machine Learning", "Distributed Systems", "Programming Methods",
    "Cryptography", "Data Science", "Systems Biology", "Cell Biology", "Immunology",
    "Molecular Neurobiology", "Biomaterials", "Microsystems", "Nanophotonics",
    "Energy Storage", "Combustion", "Geoinformatics", "Transport Economics",
    "Computational Linguistics", "Environmental Chemistry", "Glaciology",
)
BUILDINGS = (
    "BC", "INF", "AAB", "AI", "BS", "CE", "CH", "CM", "CO", "DIA", "ELA", "ELB", "ELD", "GC",
    "INJ", "INM", "MA", "MED", "ME", "MXC", "ODY", "PH", "PPB", "SG", "SV", "BCH", "GR", "CAP",
)
BUILDING_LOCATION = {"CAP": "LAUSANNE", "MED": "GENEVE", "BCH": "LAUSANNE"}
ROOM_TYPES = Weighted([("office", 40), ("laboratories", 35), ("archives", 5),
                       ("libraries", 3), ("auditoriums", 2), ("miscellaneous", 15)])
ROOM_SURFACE = {"office": (12, 40), "laboratories": (30, 150), "archives": (10, 60),
                "libraries": (100, 800), "auditoriums": (100, 600), "miscellaneous": (5, 50)}


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    inst_id: str
    name: str
    level: int
    parent: str | None
    building: str = ""  # home building of a reporting unit (lab or facility)


@dataclass(frozen=True, slots=True)
class Facility:
    """A research platform: a unit whose institutional_id is its researchfacility_id."""

    unit: Unit
    short: str
    det: int          # 70 research_facilities or 71 mice_and_fish_animal_facilities
    use_unit: str
    animals: tuple[str, ...] = ()


# det 70 platforms and the det 71 animal facility; SCITAS and CPG always exist so both
# facility types have data, the others appear as the university grows.
FACILITIES = (
    ("SCITAS", "Scientific IT and Application Support", 70, "hours", ()),
    ("CPG", "Center of PhenoGenomics", 71, "housings", ("mice", "fish")),
    ("CMi", "Center of MicroNanoTechnology", 70, "hours", ()),
    ("BIOP", "Bioimaging and Optics Platform", 70, "hours", ()),
    ("RCP", "Research Computing Platform", 70, "hours", ()),
    ("CIBM", "Center for Biomedical Imaging", 70, "CHF", ()),
)


@dataclass(frozen=True, slots=True)
class Room:
    building: str
    name: str
    room_type: str
    surface: float


@dataclass
class University:
    year: int
    units: list[Unit]                    # every unit, parents before children
    labs: list[Unit]
    facilities: list[Facility]
    buildings: list[str]                 # home buildings in use
    rooms: list[Room] = field(default_factory=list)
    rooms_by_building: dict[str, list[Room]] = field(default_factory=dict)
    dates: list[str] = field(default_factory=list)

    @property
    def reporting(self) -> list[Unit]:
        """Units that carry data: labs and the facility units (whose own emissions become
        their consumers' facility factors)."""
        return [*self.labs, *(f.unit for f in self.facilities)]


class _Ids:
    def __init__(self) -> None:
        self.next = 10000
        self.codes: set[str] = set()

    def inst_id(self) -> str:
        self.next += 1
        return str(self.next)

    def code(self, base: str) -> str:
        code, n = base, 1
        while code in self.codes:
            n += 1
            code = f"{base}{n}"
        self.codes.add(code)
        return code


def _acronym(topic: str) -> str:
    return "L" + "".join(w[0] for w in topic.split() if w[0].isalpha()).upper()


def _hierarchy(labs: int, rng: random.Random, ids: _Ids, buildings: list[str]
               ) -> tuple[list[Unit], list[Unit]]:
    units = [Unit(ids.code("UNI"), ids.inst_id(), "Synthetic University", 1, None)]
    faculties = FACULTIES[:max(1, min(len(FACULTIES), math.ceil(labs / 25)))]
    n_inst = max(len(faculties), min(60, math.ceil(labs / 6)))
    institutes: list[Unit] = []
    for fac_code, fac_name in faculties:
        units.append(Unit(ids.code(fac_code), ids.inst_id(), fac_name, 2, units[0].code))
    for i in range(n_inst):
        fac = units[1 + i % len(faculties)]
        topic = INSTITUTE_TOPICS[i % len(INSTITUTE_TOPICS)]
        abbr = "I" + "".join(w[0] for w in topic.split()).upper()
        institutes.append(Unit(ids.code(f"{fac.code}-{abbr}"), ids.inst_id(),
                               f"Institute of {topic}", 3, fac.code))
    units += institutes
    lab_units = []
    for i in range(labs):
        topic = LAB_TOPICS[i % len(LAB_TOPICS)]
        suffix = f" {i // len(LAB_TOPICS) + 1}" if i >= len(LAB_TOPICS) else ""
        lab_units.append(Unit(ids.code(_acronym(topic)), ids.inst_id(),
                              f"Laboratory of {topic}{suffix}", 4,
                              institutes[rng.randrange(len(institutes))].code,
                              buildings[rng.randrange(len(buildings))]))
    return units + lab_units, lab_units


def _facilities(labs: int, root: str, ids: _Ids, buildings: list[str], rng: random.Random
                ) -> tuple[list[Unit], list[Facility]]:
    count = min(len(FACILITIES), max(2, labs // 10))
    vpa = Unit(ids.code("VPA"), ids.inst_id(), "Vice-Presidency for Academic Affairs", 2, root)
    ptf = Unit(ids.code("VPA-PTF"), ids.inst_id(), "Research Platforms", 3, vpa.code)
    out = []
    for short, name, det, use_unit, animals in FACILITIES[:count]:
        unit = Unit(ids.code(short.upper()), ids.inst_id(), name, 4, ptf.code,
                    buildings[rng.randrange(len(buildings))])
        out.append(Facility(unit, short, det, use_unit, animals))
    return [vpa, ptf, *(f.unit for f in out)], out


def _rooms(uni: University, count: int, rng: random.Random) -> None:
    # Every home building gets rooms first (round-robin), so any unit can be given a room
    # in its own building; room names are unique per building ("BC 125").
    per_building: dict[str, int] = dict.fromkeys(uni.buildings, 0)
    for i in range(max(count, len(uni.buildings))):
        b = uni.buildings[i % len(uni.buildings)]
        k = per_building[b]
        per_building[b] = k + 1
        rtype = ROOM_TYPES.pick(rng)
        lo, hi = ROOM_SURFACE[rtype]
        room = Room(b, f"{b} {k // 40}{k % 40 + 1:02d}", rtype, round(rng.uniform(lo, hi), 1))
        uni.rooms.append(room)
        uni.rooms_by_building.setdefault(b, []).append(room)


def build_university(*, labs: int, year: int, seed: int, rooms: int) -> University:
    rng = derived_rng(seed, "university")
    ids = _Ids()
    n_buildings = max(2, min(len(BUILDINGS), math.ceil(labs / 3)))
    buildings = list(BUILDINGS[:n_buildings])
    units, lab_units = _hierarchy(labs, rng, ids, buildings)
    platform_units, facilities = _facilities(labs, units[0].code, ids, buildings, rng)
    used = sorted({u.building for u in [*lab_units, *(f.unit for f in facilities)]},
                  key=buildings.index)
    uni = University(year, units + platform_units, lab_units, facilities, used,
                     dates=days_of(year))
    _rooms(uni, rooms, rng)
    return uni


def iter_unit_rows(uni: University) -> Iterator[tuple[str, str, str, int, str]]:
    for u in uni.units:
        yield (u.code, u.inst_id, u.name, u.level, u.parent or "")


def location(building: str) -> str:
    return BUILDING_LOCATION.get(building, "ECUBLENS")
