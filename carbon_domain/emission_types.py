"""The emission type tree (SPEC §4).

Values and paths are those of the system we replace (research/domain.md §2) minus the
``headcount`` 40000 rollup marker: subtree totals are derived from the tree at read time,
so no rollup row is ever stored. Parents come from the path, not from integer arithmetic,
because the encoding has a variable number of digit groups.
"""

from __future__ import annotations

from enum import IntEnum
from functools import cache

_ROOM_ENERGIES = ("lighting", "cooling", "ventilation", "heating_elec", "heating_thermal")
_ROOM_TYPES = ("office", "laboratories", "archives", "libraries", "auditoriums", "miscellaneous")
_RECYCLING = (
    "paper", "cardboard", "plastics", "glass", "ferrous_metals", "non_ferrous_metals",
    "electronics", "wood", "pet", "aluminum", "textile", "toner_and_ink_cartridges",
    "inert_waste",
)


def _members() -> dict[str, int]:
    m: dict[str, int] = {
        "food": 10000, "food__vegetarian": 10001, "food__non_vegetarian": 10002,
        "waste": 20000, "waste__incineration": 20001, "waste__composting": 20002,
        "waste__biogas": 20003,
        "waste__biogas__organic_waste_food_leftovers": 2000301,
        "waste__biogas__cooking_vegetable_oil": 2000302,
        "waste__recycling": 20004,
    }
    for i, name in enumerate(_RECYCLING, start=1):
        m[f"waste__recycling__{name}"] = 2000400 + i
    m.update({
        "commuting": 30000, "commuting__walking": 30001, "commuting__cycling": 30002,
        "commuting__powered_two_wheeler": 30003, "commuting__public_transport": 30004,
        "commuting__car": 30005,
        "professional_travel": 50000,
        "professional_travel__train": 50100,
        "professional_travel__train__class_1": 50101,
        "professional_travel__train__class_2": 50102,
        "professional_travel__plane": 50200,
        "professional_travel__plane__first": 50201,
        "professional_travel__plane__business": 50202,
        "professional_travel__plane__eco": 50203,
        "buildings": 60000, "buildings__rooms": 60100,
    })
    for e, energy in enumerate(_ROOM_ENERGIES, start=1):
        m[f"buildings__rooms__{energy}"] = 60100 + e
        for r, room in enumerate(_ROOM_TYPES, start=1):
            m[f"buildings__rooms__{energy}__{room}"] = 6010000 + e * 100 + r
    m.update({
        "buildings__combustion": 60200,
        "buildings__combustion__natural_gas": 60201,
        "buildings__combustion__heating_oil": 60202,
        "buildings__combustion__biomethane": 60203,
        "buildings__combustion__pellets": 60204,
        "buildings__combustion__forest_chips": 60205,
        "buildings__combustion__wood_logs": 60206,
        "buildings__construction_and_renovation": 60300,
        "process_emissions": 70000,
        "process_emissions__ch4": 70100, "process_emissions__co2": 70200,
        "process_emissions__n2o": 70300, "process_emissions__refrigerants": 70400,
        "equipment": 80000, "equipment__scientific": 80100, "equipment__it": 80200,
        "equipment__other": 80300,
        "purchases": 90000,
        "purchases__goods_and_services": 90100,
        "purchases__scientific_equipment": 90200,
        "purchases__it_equipment": 90300,
        "purchases__consumable_accessories": 90400,
        "purchases__biological_chemical_gaseous": 90500,
        "purchases__services": 90600,
        "purchases__vehicles": 90700,
        "purchases__other": 90800,
        "purchases__additional": 90900,
        "purchases__additional__ln2": 90901,
        "research_facilities": 100000,
        "research_facilities__facilities": 100100,
        "research_facilities__animal": 100200,
        "research_facilities__animal__mice": 10020001,
        "research_facilities__animal__fish": 10020002,
        "research_facilities__it_facilities": 100300,
        "external": 110000,
        "external__clouds": 110100,
        "external__clouds__virtualisation": 110101,
        "external__clouds__calcul": 110102,
        "external__clouds__stockage": 110103,
        "external__ai": 110200,
    })
    for i, p in enumerate(("google", "mistral_ai", "anthropic", "openai", "cohere", "others"), 1):
        m[f"external__ai__provider_{p}"] = 110200 + i
    return m


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


EmissionType = IntEnum("EmissionType", _members())  # type: ignore[misc]
EmissionType.__doc__ = "One node of the emission tree; the member name is its ``__`` path."


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


# Attach the tree helpers as properties/methods on the functional-API enum.
def _path(self: EmissionType) -> str:
    return self.name


def _parent_prop(self: EmissionType) -> EmissionType | None:
    p = _PARENT[int(self)]
    return None if p is None else EmissionType(p)


def _children(self: EmissionType) -> tuple[EmissionType, ...]:
    return _children_map().get(int(self), ())


def _level(self: EmissionType) -> int:
    return self.name.count("__")


def _is_leaf(self: EmissionType) -> bool:
    return not _children(self)


def _scope_prop(self: EmissionType) -> int | None:
    return _SCOPE[int(self)]


def _subtree_leaves(self: EmissionType) -> tuple[EmissionType, ...]:
    return _LEAVES[int(self)]


def _subtree(self: EmissionType) -> tuple[EmissionType, ...]:
    """The node itself and every descendant."""
    out = [self]
    for c in _children(self):
        out.extend(_subtree(c))
    return tuple(out)


EmissionType.path = property(_path)  # type: ignore[attr-defined]
EmissionType.parent = property(_parent_prop)  # type: ignore[attr-defined]
EmissionType.children = _children  # type: ignore[attr-defined]
EmissionType.level = property(_level)  # type: ignore[attr-defined]
EmissionType.is_leaf = property(_is_leaf)  # type: ignore[attr-defined]
EmissionType.scope = property(_scope_prop)  # type: ignore[attr-defined]
EmissionType.subtree_leaves = _subtree_leaves  # type: ignore[attr-defined]
EmissionType.subtree = _subtree  # type: ignore[attr-defined]
EmissionType.by_path = staticmethod(by_path)  # type: ignore[attr-defined]

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
