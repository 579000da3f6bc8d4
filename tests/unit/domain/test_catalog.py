"""Module and data entry type catalog (docs/design.md §1)."""

from __future__ import annotations

from collections import Counter

import pytest

from carbon_domain.catalog import (
    MODULE_DATA_ENTRY_TYPES,
    MODULE_EMISSION_ROOTS,
    MODULE_OF,
    DataEntryType,
    ModuleType,
    parse_data_entry_type,
    parse_module,
)
from carbon_domain.emission_types import STORABLE, EmissionType, roots

E = EmissionType
D = DataEntryType


def _subtree(*nodes: EmissionType) -> set[EmissionType]:
    return {m for n in nodes for m in n.subtree()}


# Every type a det may store a row on: the mapping of the system we replace, with the decisions
# of docs/design.md §1 (one AI row by provider; fallbacks stored on the nearest scoped node).
_ROOM_ENERGIES = (
    E.buildings__rooms__lighting, E.buildings__rooms__cooling, E.buildings__rooms__ventilation,
    E.buildings__rooms__heating_elec, E.buildings__rooms__heating_thermal,
)
PRODUCES: dict[DataEntryType, set[EmissionType]] = {
    D.member: _subtree(E.food, E.waste, E.commuting),
    D.student: _subtree(E.food, E.waste, E.commuting),
    D.scientific: {E.equipment__scientific},
    D.it: {E.equipment__it},
    D.other: {E.equipment__other},
    D.plane: {E.professional_travel__plane__first, E.professional_travel__plane__business,
              E.professional_travel__plane__eco},
    D.train: {E.professional_travel__train__class_1, E.professional_travel__train__class_2},
    D.building: _subtree(*_ROOM_ENERGIES),
    D.energy_combustion: _subtree(E.buildings__combustion),
    D.building_embodied_energy: {E.buildings__construction_and_renovation},
    D.external_clouds: set(E.external__clouds.children()),
    D.external_ai: set(E.external__ai.children()),
    D.process_emissions: set(E.process_emissions.children()),
    D.scientific_equipment: {E.purchases__scientific_equipment},
    D.it_equipment: {E.purchases__it_equipment},
    D.consumable_accessories: {E.purchases__consumable_accessories},
    D.biological_chemical_gaseous_product: {E.purchases__biological_chemical_gaseous},
    D.services: {E.purchases__services},
    D.vehicles: {E.purchases__vehicles},
    D.other_purchases: {E.purchases__other},
    D.additional_purchases: {E.purchases__additional, E.purchases__additional__ln2},
    D.research_facilities: {E.research_facilities__facilities,
                            E.research_facilities__it_facilities},
    D.mice_and_fish_animal_facilities: _subtree(E.research_facilities__animal),
}


class TestIds:
    def test_eight_modules_with_the_legacy_ids(self) -> None:
        assert {m.name: m.value for m in ModuleType} == {
            "headcount": 1, "professional_travel": 2, "buildings": 3, "equipment": 4,
            "purchase": 5, "research_facilities": 6, "external_cloud_and_ai": 7,
            "process_emissions": 8,
        }

    def test_23_data_entry_types_with_the_legacy_ids(self) -> None:
        assert {d.name: d.value for d in DataEntryType} == {
            "member": 1, "student": 2, "scientific": 10, "it": 11, "other": 12, "plane": 20,
            "train": 21, "building": 30, "energy_combustion": 31,
            "building_embodied_energy": 32, "external_clouds": 40, "external_ai": 41,
            "process_emissions": 50, "scientific_equipment": 60, "it_equipment": 61,
            "consumable_accessories": 62, "biological_chemical_gaseous_product": 63,
            "services": 64, "vehicles": 65, "other_purchases": 66,
            "additional_purchases": 67, "research_facilities": 70,
            "mice_and_fish_animal_facilities": 71,
        }


class TestModuleMapping:
    def test_every_det_is_in_exactly_one_module(self) -> None:
        counts = Counter(d for dets in MODULE_DATA_ENTRY_TYPES.values() for d in dets)
        assert set(counts) == set(DataEntryType)
        assert set(counts.values()) == {1}
        assert set(MODULE_DATA_ENTRY_TYPES) == set(ModuleType)

    def test_module_of_inverts_the_mapping(self) -> None:
        for module, dets in MODULE_DATA_ENTRY_TYPES.items():
            assert all(MODULE_OF[d] is module for d in dets)

    @pytest.mark.parametrize(
        ("module", "dets"),
        [
            (ModuleType.headcount, {1, 2}),
            (ModuleType.professional_travel, {20, 21}),
            (ModuleType.buildings, {30, 31, 32}),
            (ModuleType.equipment, {10, 11, 12}),
            (ModuleType.purchase, set(range(60, 68))),
            (ModuleType.research_facilities, {70, 71}),
            (ModuleType.external_cloud_and_ai, {40, 41}),
            (ModuleType.process_emissions, {50}),
        ],
    )
    def test_mapping_matches_the_fact_sheet(self, module: ModuleType, dets: set[int]) -> None:
        assert {int(d) for d in MODULE_DATA_ENTRY_TYPES[module]} == dets


class TestEmissionRoots:
    def test_the_table_of_produced_types_covers_every_det(self) -> None:
        assert set(PRODUCES) == set(DataEntryType)

    def test_every_produced_type_is_storable(self) -> None:
        for det, types in PRODUCES.items():
            assert {int(t) for t in types} <= STORABLE, det.name

    @pytest.mark.parametrize("det", list(DataEntryType), ids=lambda d: d.name)
    def test_module_roots_cover_what_its_dets_produce(self, det: DataEntryType) -> None:
        covered = _subtree(*MODULE_EMISSION_ROOTS[MODULE_OF[det]])
        assert PRODUCES[det] <= covered

    def test_no_node_is_counted_twice(self) -> None:
        # The system we replace listed 60300 under buildings twice (docs/design.md §1).
        nodes = [m for rs in MODULE_EMISSION_ROOTS.values() for r in rs for m in r.subtree()]
        assert len(nodes) == len(set(nodes))

    def test_module_roots_are_exactly_the_tree_roots(self) -> None:
        listed = [r for rs in MODULE_EMISSION_ROOTS.values() for r in rs]
        assert sorted(listed) == sorted(roots())
        assert set(MODULE_EMISSION_ROOTS) == set(ModuleType)
        assert E.buildings__construction_and_renovation not in listed


class TestParse:
    @pytest.mark.parametrize("value", [3, "3", "buildings"])
    def test_parse_module_accepts_ids_and_names(self, value: str | int) -> None:
        assert parse_module(value) is ModuleType.buildings

    def test_parse_module_lists_the_choices(self) -> None:
        with pytest.raises(ValueError, match="1=headcount"):
            parse_module("nope")

    @pytest.mark.parametrize("value", [41, "41", "external_ai"])
    def test_parse_data_entry_type(self, value: str | int) -> None:
        assert parse_data_entry_type(value) is DataEntryType.external_ai

    @pytest.mark.parametrize("value", [3, "nope", None])
    def test_parse_data_entry_type_rejects_unknown(self, value: object) -> None:
        with pytest.raises(ValueError):
            parse_data_entry_type(value)  # type: ignore[arg-type]
