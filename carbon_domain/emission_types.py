"""The emission type tree (docs/design.md §1).

Values and paths are those of the system we replace (docs/design.md §1) minus the
``headcount`` 40000 rollup marker: subtree totals are derived from the tree at read time,
so no rollup row is ever stored. Parents come from the path, not from integer arithmetic,
because the encoding has a variable number of digit groups.
"""

from __future__ import annotations

from enum import IntEnum
from functools import cache

# Scope of every node that carries one; a node is keyed by path prefix so whole subtrees
# inherit (e.g. every heating_thermal room leaf is scope 1).
_SCOPE_BY_PREFIX: tuple[tuple[str, int], ...] = (
    ("food", 3), ("waste", 3), ("commuting", 3),
    ("professional_travel__train__", 3), ("professional_travel__plane__", 3),
    ("buildings__rooms__heating_thermal", 1),
    ("buildings__rooms__", 2),
    ("buildings__combustion", 1),
    ("buildings__construction_and_renovation", 3),
    ("process_emissions__", 1),
    ("equipment__", 2),
    ("purchases__additional", 1),
    ("purchases__", 3),
    ("research_facilities__", 3),
    ("external__clouds__", 3),
    ("external__ai__", 3),
)


class EmissionType(IntEnum):
    """One node of the emission tree; the member name is its ``__`` path.

    The members are spelled out (not built from a table with the functional API) so that the
    type checker knows each one: this class body is the single source of the ids. The rules
    the ids follow (room leaf = 6010000 + energy * 100 + room, ...) are checked against it in
    tests/unit/domain/test_emission_types.py, which rebuilds the table from those rules.
    """

    food = 10000
    food__vegetarian = 10001
    food__non_vegetarian = 10002
    waste = 20000
    waste__incineration = 20001
    waste__composting = 20002
    waste__biogas = 20003
    waste__biogas__organic_waste_food_leftovers = 2000301
    waste__biogas__cooking_vegetable_oil = 2000302
    waste__recycling = 20004
    waste__recycling__paper = 2000401
    waste__recycling__cardboard = 2000402
    waste__recycling__plastics = 2000403
    waste__recycling__glass = 2000404
    waste__recycling__ferrous_metals = 2000405
    waste__recycling__non_ferrous_metals = 2000406
    waste__recycling__electronics = 2000407
    waste__recycling__wood = 2000408
    waste__recycling__pet = 2000409
    waste__recycling__aluminum = 2000410
    waste__recycling__textile = 2000411
    waste__recycling__toner_and_ink_cartridges = 2000412
    waste__recycling__inert_waste = 2000413
    commuting = 30000
    commuting__walking = 30001
    commuting__cycling = 30002
    commuting__powered_two_wheeler = 30003
    commuting__public_transport = 30004
    commuting__car = 30005
    professional_travel = 50000
    professional_travel__train = 50100
    professional_travel__train__class_1 = 50101
    professional_travel__train__class_2 = 50102
    professional_travel__plane = 50200
    professional_travel__plane__first = 50201
    professional_travel__plane__business = 50202
    professional_travel__plane__eco = 50203
    buildings = 60000
    buildings__rooms = 60100
    buildings__rooms__lighting = 60101
    buildings__rooms__lighting__office = 6010101
    buildings__rooms__lighting__laboratories = 6010102
    buildings__rooms__lighting__archives = 6010103
    buildings__rooms__lighting__libraries = 6010104
    buildings__rooms__lighting__auditoriums = 6010105
    buildings__rooms__lighting__miscellaneous = 6010106
    buildings__rooms__cooling = 60102
    buildings__rooms__cooling__office = 6010201
    buildings__rooms__cooling__laboratories = 6010202
    buildings__rooms__cooling__archives = 6010203
    buildings__rooms__cooling__libraries = 6010204
    buildings__rooms__cooling__auditoriums = 6010205
    buildings__rooms__cooling__miscellaneous = 6010206
    buildings__rooms__ventilation = 60103
    buildings__rooms__ventilation__office = 6010301
    buildings__rooms__ventilation__laboratories = 6010302
    buildings__rooms__ventilation__archives = 6010303
    buildings__rooms__ventilation__libraries = 6010304
    buildings__rooms__ventilation__auditoriums = 6010305
    buildings__rooms__ventilation__miscellaneous = 6010306
    buildings__rooms__heating_elec = 60104
    buildings__rooms__heating_elec__office = 6010401
    buildings__rooms__heating_elec__laboratories = 6010402
    buildings__rooms__heating_elec__archives = 6010403
    buildings__rooms__heating_elec__libraries = 6010404
    buildings__rooms__heating_elec__auditoriums = 6010405
    buildings__rooms__heating_elec__miscellaneous = 6010406
    buildings__rooms__heating_thermal = 60105
    buildings__rooms__heating_thermal__office = 6010501
    buildings__rooms__heating_thermal__laboratories = 6010502
    buildings__rooms__heating_thermal__archives = 6010503
    buildings__rooms__heating_thermal__libraries = 6010504
    buildings__rooms__heating_thermal__auditoriums = 6010505
    buildings__rooms__heating_thermal__miscellaneous = 6010506
    buildings__combustion = 60200
    buildings__combustion__natural_gas = 60201
    buildings__combustion__heating_oil = 60202
    buildings__combustion__biomethane = 60203
    buildings__combustion__pellets = 60204
    buildings__combustion__forest_chips = 60205
    buildings__combustion__wood_logs = 60206
    buildings__construction_and_renovation = 60300
    process_emissions = 70000
    process_emissions__ch4 = 70100
    process_emissions__co2 = 70200
    process_emissions__n2o = 70300
    process_emissions__refrigerants = 70400
    equipment = 80000
    equipment__scientific = 80100
    equipment__it = 80200
    equipment__other = 80300
    purchases = 90000
    purchases__goods_and_services = 90100
    purchases__scientific_equipment = 90200
    purchases__it_equipment = 90300
    purchases__consumable_accessories = 90400
    purchases__biological_chemical_gaseous = 90500
    purchases__services = 90600
    purchases__vehicles = 90700
    purchases__other = 90800
    purchases__additional = 90900
    purchases__additional__ln2 = 90901
    research_facilities = 100000
    research_facilities__facilities = 100100
    research_facilities__animal = 100200
    research_facilities__animal__mice = 10020001
    research_facilities__animal__fish = 10020002
    research_facilities__it_facilities = 100300
    external = 110000
    external__clouds = 110100
    external__clouds__virtualisation = 110101
    external__clouds__calcul = 110102
    external__clouds__stockage = 110103
    external__ai = 110200
    external__ai__provider_google = 110201
    external__ai__provider_mistral_ai = 110202
    external__ai__provider_anthropic = 110203
    external__ai__provider_openai = 110204
    external__ai__provider_cohere = 110205
    external__ai__provider_others = 110206

    # Tree helpers. The module-level functions they call are defined below the class; names
    # inside a method resolve at call time, after the module has loaded.
    @property
    def path(self) -> str:
        return self.name

    @property
    def parent(self) -> EmissionType | None:
        p = _PARENT[int(self)]
        return None if p is None else EmissionType(p)

    def children(self) -> tuple[EmissionType, ...]:
        return _children_map().get(int(self), ())

    @property
    def level(self) -> int:
        return self.name.count("__")

    @property
    def is_leaf(self) -> bool:
        return not self.children()

    @property
    def scope(self) -> int | None:
        return _SCOPE[int(self)]

    def subtree_leaves(self) -> tuple[EmissionType, ...]:
        return _LEAVES[int(self)]

    def subtree(self) -> tuple[EmissionType, ...]:
        """The node itself and every descendant."""
        out = [self]
        for c in self.children():
            out.extend(c.subtree())
        return tuple(out)

    @staticmethod
    def by_path(path: str) -> EmissionType:
        return by_path(path)  # the module-level function (a method body skips class scope)


@cache
def _by_path() -> dict[str, EmissionType]:
    return {m.name: m for m in EmissionType}


@cache
def _children_map() -> dict[int | None, tuple[EmissionType, ...]]:
    out: dict[int | None, list[EmissionType]] = {}
    for m in EmissionType:
        out.setdefault(_parent(m), []).append(m)
    return {k: tuple(v) for k, v in out.items()}


def _parent(m: EmissionType) -> int | None:
    if "__" not in m.name:
        return None
    return int(_by_path()[m.name.rsplit("__", 1)[0]])


def _scope(m: EmissionType) -> int | None:
    for prefix, scope in _SCOPE_BY_PREFIX:
        # A prefix ending in "__" matches descendants only, so roots stay scope-less.
        if m.name.startswith(prefix):
            return scope
    return None


def by_path(path: str) -> EmissionType:
    """Look a node up by its ``__`` path; KeyError names the unknown path."""
    try:
        return _by_path()[path]
    except KeyError:
        raise KeyError(f"unknown emission type path: {path!r}") from None


def roots() -> tuple[EmissionType, ...]:
    return _children_map()[None]


_PARENT: dict[int, int | None] = {int(m): _parent(m) for m in EmissionType}
_SCOPE: dict[int, int | None] = {int(m): _scope(m) for m in EmissionType}


def _leaves_of(m: EmissionType) -> tuple[EmissionType, ...]:
    kids = _children_map().get(int(m), ())
    if not kids:
        return (m,)
    out: list[EmissionType] = []
    for k in kids:
        out.extend(_leaves_of(k))
    return tuple(out)


_LEAVES: dict[int, tuple[EmissionType, ...]] = {int(m): _leaves_of(m) for m in EmissionType}

#: Plain-int scope lookup for hot loops (no enum construction per row).
SCOPE_OF: dict[int, int | None] = dict(_SCOPE)
#: Types a row may be stored on: every node that carries a scope.
STORABLE: frozenset[int] = frozenset(k for k, v in _SCOPE.items() if v is not None)
