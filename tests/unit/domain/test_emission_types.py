"""Invariants of the emission type tree (docs/design.md §1)."""

from __future__ import annotations

from collections import Counter
from enum import IntEnum

import pytest

from carbon_domain.emission_types import SCOPE_OF, STORABLE, EmissionType, by_path, roots

E = EmissionType
ALL = list(EmissionType)
LEAVES = [m for m in ALL if m.is_leaf]


# The enum spells its members out (so the type checker knows them); this rebuilds the same
# table from the numbering rules of the system we replace (docs/design.md §1), which is
# how the class body was generated, so a typo in one id or a member out of order fails here.
_ROOM_ENERGIES = ("lighting", "cooling", "ventilation", "heating_elec", "heating_thermal")
_ROOM_TYPES = ("office", "laboratories", "archives", "libraries", "auditoriums", "miscellaneous")
_RECYCLING = (
    "paper", "cardboard", "plastics", "glass", "ferrous_metals", "non_ferrous_metals",
    "electronics", "wood", "pet", "aluminum", "textile", "toner_and_ink_cartridges",
    "inert_waste",
)


def _table_from_the_numbering_rules() -> dict[str, int]:
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


class TestTable:
    def test_the_explicit_enum_equals_the_one_built_from_the_rules(self) -> None:
        table = _table_from_the_numbering_rules()
        built = IntEnum("EmissionType", table)
        assert [(m.name, int(m)) for m in EmissionType] == list(table.items())
        assert [(m.name, int(m)) for m in built] == [(m.name, int(m)) for m in EmissionType]


class TestMembers:
    def test_there_are_120_members_with_distinct_values(self) -> None:
        assert len(ALL) == 120
        assert len({int(m) for m in ALL}) == 120

    def test_the_headcount_rollup_marker_is_absent(self) -> None:
        assert 40000 not in {int(m) for m in ALL}
        with pytest.raises(ValueError):
            EmissionType(40000)
        assert "headcount" not in EmissionType.__members__

    def test_95_leaves_and_25_internal_nodes(self) -> None:
        assert len(LEAVES) == 95
        assert len(ALL) - len(LEAVES) == 25

    def test_values_spot_checked_against_the_fact_sheet(self) -> None:
        assert by_path("waste__recycling__inert_waste") == 2000413
        assert by_path("buildings__rooms__lighting__office") == 6010101
        assert by_path("buildings__rooms__heating_thermal__miscellaneous") == 6010506
        assert by_path("research_facilities__animal__fish") == 10020002
        assert by_path("external__ai__provider_others") == 110206


class TestShape:
    def test_every_path_prefix_chain_resolves_to_existing_parents(self) -> None:
        for m in ALL:
            parts = m.path.split("__")
            node = m
            for depth in range(len(parts) - 1, 0, -1):
                prefix = "__".join(parts[:depth])
                assert node.parent == by_path(prefix), m.path
                node = by_path(prefix)
            assert node.parent is None, m.path

    def test_level_is_the_number_of_parent_hops(self) -> None:
        for m in ALL:
            hops, node = 0, m
            while node.parent is not None:
                hops, node = hops + 1, node.parent
            assert m.level == hops, m.path

    def test_roots_are_level_0_and_parentless(self) -> None:
        assert [int(r) for r in roots()] == [
            10000, 20000, 30000, 50000, 60000, 70000, 80000, 90000, 100000, 110000,
        ]
        assert {m for m in ALL if m.parent is None} == set(roots())
        assert all(r.level == 0 for r in roots())

    def test_children_and_parent_agree(self) -> None:
        for m in ALL:
            for child in m.children():
                assert child.parent == m
            if m.parent is not None:
                assert m in m.parent.children()
        assert sum(len(m.children()) for m in ALL) == len(ALL) - len(roots())

    def test_is_leaf_means_no_children(self) -> None:
        assert all(m.is_leaf == (m.children() == ()) for m in ALL)

    def test_by_path_round_trips(self) -> None:
        for m in ALL:
            assert by_path(m.path) is m
            assert EmissionType.by_path(m.path) is m

    def test_by_path_names_an_unknown_path(self) -> None:
        with pytest.raises(KeyError, match="food__vegan"):
            by_path("food__vegan")

    def test_subtree_leaves_of_the_roots_partition_the_leaves(self) -> None:
        counts = Counter(leaf for r in roots() for leaf in r.subtree_leaves())
        assert set(counts) == set(LEAVES)
        assert set(counts.values()) == {1}

    def test_subtree_leaves_of_a_leaf_is_itself(self) -> None:
        assert E.food__vegetarian.subtree_leaves() == (E.food__vegetarian,)

    def test_subtree_is_the_node_and_all_descendants(self) -> None:
        assert E.buildings__combustion.subtree() == (E.buildings__combustion,) + tuple(
            by_path(f"buildings__combustion__{f}")
            for f in ("natural_gas", "heating_oil", "biomethane", "pellets", "forest_chips",
                      "wood_logs")
        )
        assert sum(len(r.subtree()) for r in roots()) == len(ALL)
        for m in ALL:
            assert [x for x in m.subtree() if x.is_leaf] == list(m.subtree_leaves())


class TestScopes:
    def test_every_leaf_has_a_scope(self) -> None:
        assert all(leaf.scope in (1, 2, 3) for leaf in LEAVES)

    def test_leaves_by_scope_match_the_fact_sheet_counts(self) -> None:
        assert Counter(leaf.scope for leaf in LEAVES) == {1: 17, 2: 27, 3: 51}

    def test_heating_thermal_subtree_is_scope_1(self) -> None:
        assert {m.scope for m in E.buildings__rooms__heating_thermal.subtree()} == {1}

    @pytest.mark.parametrize("energy", ["lighting", "cooling", "ventilation", "heating_elec"])
    def test_other_room_energies_are_scope_2(self, energy: str) -> None:
        assert {m.scope for m in by_path(f"buildings__rooms__{energy}").subtree()} == {2}

    @pytest.mark.parametrize(
        ("path", "scope"),
        [
            ("purchases__additional", 1),
            ("purchases__additional__ln2", 1),
            ("purchases__goods_and_services", 3),
            ("purchases__vehicles", 3),
            ("buildings__combustion", 1),
            ("buildings__combustion__pellets", 1),
            ("buildings__construction_and_renovation", 3),
            ("process_emissions__refrigerants", 1),
            ("equipment__it", 2),
            ("professional_travel__plane__eco", 3),
            ("professional_travel__train__class_2", 3),
            ("research_facilities__animal", 3),
            ("research_facilities__it_facilities", 3),
            ("external__clouds__stockage", 3),
            ("external__ai__provider_anthropic", 3),
            ("waste__biogas", 3),
            ("waste__recycling__paper", 3),
            ("commuting__car", 3),
        ],
    )
    def test_scope_spot_checks(self, path: str, scope: int) -> None:
        assert by_path(path).scope == scope

    def test_roots_are_scopeless_except_food_waste_commuting(self) -> None:
        assert {r.path: r.scope for r in roots() if r.scope is not None} == {
            "food": 3, "waste": 3, "commuting": 3,
        }

    @pytest.mark.parametrize(
        "path",
        [
            "buildings__rooms", "professional_travel__train", "professional_travel__plane",
            "external__clouds", "external__ai",
        ],
    )
    def test_pure_grouping_nodes_are_scopeless(self, path: str) -> None:
        assert by_path(path).scope is None

    def test_scope_of_and_storable_agree_with_the_enum(self) -> None:
        assert SCOPE_OF == {int(m): m.scope for m in ALL}
        assert {int(m) for m in ALL if m.scope is not None} == STORABLE
        assert {int(leaf) for leaf in LEAVES} <= STORABLE
