"""Module types and data entry types, with the ids of the system we replace (docs/design.md §1)."""

from __future__ import annotations

from enum import IntEnum

from carbon_domain.emission_types import EmissionType
from carbon_domain.errors import InvalidInput

# The reporting years every surface accepts: the API's year parameters, the console's upload
# form and the year column of an exchange-rates file.
YEAR_MIN, YEAR_MAX = 2000, 2100


class ModuleType(IntEnum):
    headcount = 1
    professional_travel = 2
    buildings = 3
    equipment = 4
    purchase = 5
    research_facilities = 6
    external_cloud_and_ai = 7
    process_emissions = 8


class DataEntryType(IntEnum):
    member = 1
    student = 2
    scientific = 10
    it = 11
    other = 12
    plane = 20
    train = 21
    building = 30
    energy_combustion = 31
    building_embodied_energy = 32
    external_clouds = 40
    external_ai = 41
    process_emissions = 50
    scientific_equipment = 60
    it_equipment = 61
    consumable_accessories = 62
    biological_chemical_gaseous_product = 63
    services = 64
    vehicles = 65
    other_purchases = 66
    additional_purchases = 67
    research_facilities = 70
    mice_and_fish_animal_facilities = 71


D = DataEntryType
MODULE_DATA_ENTRY_TYPES: dict[ModuleType, tuple[DataEntryType, ...]] = {
    ModuleType.headcount: (D.member, D.student),
    ModuleType.professional_travel: (D.plane, D.train),
    ModuleType.buildings: (D.building, D.energy_combustion, D.building_embodied_energy),
    ModuleType.equipment: (D.scientific, D.it, D.other),
    ModuleType.purchase: (
        D.scientific_equipment, D.it_equipment, D.consumable_accessories,
        D.biological_chemical_gaseous_product, D.services, D.vehicles, D.other_purchases,
        D.additional_purchases,
    ),
    ModuleType.research_facilities: (D.research_facilities, D.mice_and_fish_animal_facilities),
    ModuleType.external_cloud_and_ai: (D.external_clouds, D.external_ai),
    ModuleType.process_emissions: (D.process_emissions,),
}

MODULE_OF: dict[DataEntryType, ModuleType] = {
    det: module for module, dets in MODULE_DATA_ENTRY_TYPES.items() for det in dets
}

E = EmissionType
# Each node listed once: buildings already contains construction_and_renovation, so unlike
# the system we replace, embodied energy is never counted twice (docs/design.md §1).
MODULE_EMISSION_ROOTS: dict[ModuleType, tuple[EmissionType, ...]] = {
    ModuleType.headcount: (E.food, E.waste, E.commuting),
    ModuleType.professional_travel: (E.professional_travel,),
    ModuleType.buildings: (E.buildings,),
    ModuleType.equipment: (E.equipment,),
    ModuleType.purchase: (E.purchases,),
    ModuleType.research_facilities: (E.research_facilities,),
    ModuleType.external_cloud_and_ai: (E.external,),
    ModuleType.process_emissions: (E.process_emissions,),
}

# Research facility types take factors computed from facility units' own reports, so
# every other module's types must be recalculated first (a dependency edge in the graph).
DEPENDS_ON_OTHER_MODULES: frozenset[DataEntryType] = frozenset(
    {D.research_facilities, D.mice_and_fish_animal_facilities}
)
#: The same types as ids (job and factor columns hold ids), in id order.
FACILITY_TYPE_IDS: tuple[int, ...] = tuple(sorted(d.value for d in DEPENDS_ON_OTHER_MODULES))


def parse_module(value: str | int) -> ModuleType:
    """Accept an id or a name; InvalidInput with the valid choices otherwise."""
    try:
        return ModuleType(int(value))
    except (ValueError, TypeError):
        pass
    try:
        return ModuleType[str(value)]
    except KeyError:
        choices = ", ".join(f"{m.value}={m.name}" for m in ModuleType)
        raise InvalidInput(f"unknown module {value!r}; expected one of {choices}",
                           field="module_type_id", value=value) from None


def parse_data_entry_type(value: str | int) -> DataEntryType:
    try:
        return DataEntryType(int(value))
    except (ValueError, TypeError):
        pass
    try:
        return DataEntryType[str(value)]
    except KeyError:
        raise InvalidInput(f"unknown data entry type {value!r}", field="data_entry_type_id",
                           value=value) from None


def types_phrase(n: int) -> str:
    """"1 data entry type", "3 data entry types": how messages count types."""
    return f"{n} data entry type{'' if n == 1 else 's'}"


def check_module_type(module: ModuleType, det: DataEntryType | None) -> None:
    """InvalidInput when ``det`` is not one of ``module``'s data entry types."""
    if det is None or MODULE_OF[det] == module:
        return
    valid = ", ".join(f"{d.value}={d.name}" for d in MODULE_DATA_ENTRY_TYPES[module])
    raise InvalidInput(f"data entry type {det.value} ({det.name}) does not belong to module"
                       f" {module.value} ({module.name}); its types are {valid}",
                       field="data_entry_type_id", value=det.value)
