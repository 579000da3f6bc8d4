"""Data entry type → emission type(s): a registry of per-type resolvers (docs/design.md §2).

``resolve_emission_types(det, data)`` returns the types an entry produces rows on, or None
when a value is not recognised (logged; the entry gets no rows). Every type returned is
storable (carries a scope): fallbacks go to the nearest scoped node, never to a rollup.

``resolve_factor_emission_type(det, classification)`` is the ingest-time twin for factors
(docs/design.md §2): the most specific type the factor's own classification determines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from carbon_domain import names
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.emission_types import EmissionType as E

logger = logging.getLogger(__name__)

Resolver = Callable[[Mapping[str, Any]], list[int] | None]

_ENERGIES = ("lighting", "cooling", "ventilation", "heating_elec", "heating_thermal")
ROOM_ENERGY_NODES = [int(E.by_path(f"buildings__rooms__{e}")) for e in _ENERGIES]
PLANE_LEAVES = {"first": int(E.professional_travel__plane__first),
                "business": int(E.professional_travel__plane__business),
                "economy": int(E.professional_travel__plane__eco)}
TRAIN_LEAVES = {"first": int(E.professional_travel__train__class_1),
                "second": int(E.professional_travel__train__class_2)}
CLOUD_LEAVES = {s: int(E.by_path(f"external__clouds__{s}"))
                for s in ("virtualisation", "calcul", "stockage")}
GAS_LEAVES = {g: int(E.by_path(f"process_emissions__{g}"))
              for g in ("ch4", "co2", "n2o", "refrigerants")}
ANIMAL_LEAVES = {"mice": int(E.research_facilities__animal__mice),
                 "fish": int(E.research_facilities__animal__fish)}


def room_leaves(room_type: str) -> list[int]:
    return [int(E.by_path(f"buildings__rooms__{e}__{room_type}")) for e in _ENERGIES]


_ROOM_LEAVES = {rt: room_leaves(rt) for rt in set(names.ROOM_TYPES.values())}


def _static(*types: int) -> Resolver:
    fixed = [int(t) for t in types]
    return lambda _data: list(fixed)


_LOGGED: set[tuple[int, str, str]] = set()
_LOG_LIMIT = 1000


def _unknown(det: D, field: str, value: Any) -> list[int] | None:
    """Log an unrecognised value; always None (no rows), typed as a resolver's result so a
    resolver can end with ``return [leaf] if leaf else _unknown(...)``."""
    # Once per distinct value (bounded): a 100k-row chunk of one typo must not flood the log;
    # the engine reports every affected entry in its errors anyway.
    key = (int(det), field, repr(value)[:100])
    if key not in _LOGGED:
        if len(_LOGGED) >= _LOG_LIMIT:
            _LOGGED.clear()  # bounded memory, and a long-lived worker keeps logging
        _LOGGED.add(key)
        logger.warning("%s entry: unrecognised %s %r, no emission rows", det.name, field, value)
    return None


def _plane(data: Mapping[str, Any]) -> list[int] | None:
    leaf = PLANE_LEAVES.get(names.plane_cabin(data.get("cabin_class")) or "")
    return [leaf] if leaf else _unknown(D.plane, "cabin_class", data.get("cabin_class"))


def _train(data: Mapping[str, Any]) -> list[int] | None:
    leaf = TRAIN_LEAVES.get(names.train_cabin(data.get("cabin_class")) or "")
    return [leaf] if leaf else _unknown(D.train, "cabin_class", data.get("cabin_class"))


def _room(data: Mapping[str, Any]) -> list[int]:
    # Unknown or blank room type: the five energy nodes still carry the right scope.
    leaves = _ROOM_LEAVES.get(names.room_type(data.get("room_type")) or "")
    return list(leaves or ROOM_ENERGY_NODES)


def fuel_type(name: Any) -> int:
    f = names.fuel(name)
    return int(E.by_path(f"buildings__combustion__{f}")) if f else int(E.buildings__combustion)


def _combustion(data: Mapping[str, Any]) -> list[int]:
    return [fuel_type(data.get("name"))]


def _cloud(data: Mapping[str, Any]) -> list[int] | None:
    leaf = CLOUD_LEAVES.get(names.cloud_service(data.get("service_type")) or "")
    return [leaf] if leaf else _unknown(D.external_clouds, "service_type",
                                        data.get("service_type"))


def ai_type(provider: Any) -> int:
    return int(E.by_path(f"external__ai__provider_{names.ai_provider(provider)}"))


def _ai(data: Mapping[str, Any]) -> list[int]:
    return [ai_type(data.get("provider"))]


def gas_type(data: Mapping[str, Any]) -> int | None:
    g = names.gas(data.get("category")) or names.gas(data.get("kind"))
    return GAS_LEAVES[g] if g else None


def _process(data: Mapping[str, Any]) -> list[int] | None:
    t = gas_type(data)
    return [t] if t else _unknown(D.process_emissions, "category", data.get("category"))


def additional_purchase_type(name: Any) -> int:
    if names.purchase_name(name) == "ln2":
        return int(E.purchases__additional__ln2)
    return int(E.purchases__additional)


def _additional(data: Mapping[str, Any]) -> list[int]:
    return [additional_purchase_type(data.get("name"))]


def facility_type(name: Any) -> int:
    if names.slug(name) in names.FACILITY_IT_NAMES:
        return int(E.research_facilities__it_facilities)
    return int(E.research_facilities__facilities)


def animal_type(kind: Any) -> int:
    return ANIMAL_LEAVES.get(names.animal(kind) or "", int(E.research_facilities__animal))


#: Types whose resolution needs neither the entry's data nor reference lookups: the same
#: storable types for every entry (the engine's fast paths resolve these once per chunk).
_STATIC: dict[D, tuple[E, ...]] = {
    D.member: (E.food, E.waste, E.commuting),
    D.student: (E.food, E.waste, E.commuting),
    D.scientific: (E.equipment__scientific,),
    D.it: (E.equipment__it,),
    D.other: (E.equipment__other,),
    D.building_embodied_energy: (E.buildings__construction_and_renovation,),
    D.scientific_equipment: (E.purchases__scientific_equipment,),
    D.it_equipment: (E.purchases__it_equipment,),
    D.consumable_accessories: (E.purchases__consumable_accessories,),
    D.biological_chemical_gaseous_product: (E.purchases__biological_chemical_gaseous,),
    D.services: (E.purchases__services,),
    D.vehicles: (E.purchases__vehicles,),
    D.other_purchases: (E.purchases__other,),
}
STATIC_TYPES: dict[int, tuple[int, ...]] = {int(det): tuple(int(t) for t in types)
                                            for det, types in _STATIC.items()}

RESOLVERS: dict[int, Resolver] = {
    **{det: _static(*types) for det, types in STATIC_TYPES.items()},
    D.plane: _plane,
    D.train: _train,
    D.building: _room,
    D.energy_combustion: _combustion,
    D.external_clouds: _cloud,
    D.external_ai: _ai,
    D.process_emissions: _process,
    D.additional_purchases: _additional,
    D.research_facilities: lambda d: [facility_type(d.get("researchfacility_name"))],
    D.mice_and_fish_animal_facilities: lambda d: [animal_type(d.get("researchfacility_type"))],
}

#: The data fields each dynamic resolver reads (used to explain an unresolved entry).
RESOLVER_INPUTS: dict[int, tuple[str, ...]] = {
    D.plane: ("cabin_class",), D.train: ("cabin_class",),
    D.external_clouds: ("service_type",), D.process_emissions: ("category",),
}


def resolve_emission_types(det: int, data: Mapping[str, Any]) -> list[int] | None:
    """The storable emission types an entry of ``det`` produces rows on, or None."""
    resolver = RESOLVERS.get(int(det))
    if resolver is None:
        logger.warning("no emission type resolver for data entry type %s", det)
        return None
    return resolver(data)


# -- factor emission type at ingest ------------------------------------------------------------
_HEADCOUNT_ROOTS = ("food", "waste", "commuting")


def _headcount_factor(c: Mapping[str, Any]) -> int | None:
    """Most specific path first: waste / recycling / paper → waste__recycling__paper."""
    parts = [names.slug(c.get(k)) for k in
             ("headcount_category", "headcount_class", "headcount_subclass")]
    if parts[0] not in _HEADCOUNT_ROOTS:
        return None
    chain = [p for p in parts if p]
    for n in range(len(chain), 0, -1):
        try:
            return int(E.by_path("__".join(chain[:n])))
        except KeyError:
            continue
    return None


FACTOR_RESOLVERS: dict[int, Callable[[Mapping[str, Any]], int | None]] = {
    D.member: _headcount_factor,
    D.student: _headcount_factor,
    # A plane factor's cabin class determines the leaf; its haul band does not.
    D.plane: lambda c: PLANE_LEAVES.get(names.plane_cabin(c.get("cabin_class")) or ""),
    D.train: lambda _c: int(E.professional_travel__train),
    D.building: lambda _c: int(E.buildings__rooms),
    D.energy_combustion: lambda c: fuel_type(c.get("name")),
    D.external_clouds: lambda c: CLOUD_LEAVES.get(names.cloud_service(c.get("service_type"))
                                                  or ""),
    D.external_ai: lambda c: ai_type(c.get("provider")),
    D.process_emissions: gas_type,
    D.additional_purchases: lambda c: additional_purchase_type(c.get("name")),
    D.research_facilities: lambda c: facility_type(c.get("researchfacility_name")),
    D.mice_and_fish_animal_facilities: lambda c: animal_type(c.get("researchfacility_type")),
}


def resolve_factor_emission_type(det: int, classification: Mapping[str, Any]) -> int | None:
    """The one emission type a factor row is stored with, or None (reject the row)."""
    fn = FACTOR_RESOLVERS.get(int(det))
    if fn is not None:
        return fn(classification)
    types = RESOLVERS[int(det)](classification)  # static types: exactly one
    return types[0] if types and len(types) == 1 else None
