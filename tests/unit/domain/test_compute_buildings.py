"""Hand-computed emissions for rooms (30), combustion (31) and embodied energy (32)."""

from __future__ import annotations

import pytest

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.emission_types import EmissionType as E

approx = pytest.approx
NODES = [60101, 60102, 60103, 60104, 60105]


def room_factor(factor, fid=1, building="BC", room_type=None,  # type: ignore[no-untyped-def]
                energy="electric", **extra):
    cols = dict(building_name=building, room_type=room_type, ef_kg_co2eq_per_kwh=0.1,
                lighting_kwh_per_square_meter=5, cooling_kwh_per_square_meter=20,
                ventilation_kwh_per_square_meter=10, heating_kwh_per_square_meter=30,
                energy_type=energy)
    return factor(D.building, fid, **{**cols, **extra})


class TestRoom:
    def test_worked_example_electric_heating_and_no_thermal_or_rollup_row(self, run, factor):
        res = run(D.building, [room_factor(factor)],
                  {"building_name": "BC", "room_name": "BC 1", "room_type": "office",
                   "room_surface_square_meter": 20})
        assert {r[1]: r[3] for r in res.rows} == {
            int(E.buildings__rooms__lighting__office): approx(10.0),
            int(E.buildings__rooms__cooling__office): approx(40.0),
            int(E.buildings__rooms__ventilation__office): approx(20.0),
            int(E.buildings__rooms__heating_elec__office): approx(60.0),
        }
        assert {r[2] for r in res.rows} == {2} and {r[5] for r in res.rows} == {1}
        assert 60100 not in {r[1] for r in res.rows}

    def test_thermal_heating_uses_conversion_factor_and_scope_1(self, run, factor):
        f = room_factor(factor, energy="therm", conversion_factor=1.1)
        res = run(D.building, [f], {"building_name": "bc", "room_name": "x",
                                    "room_type": "Laboratory", "room_surface_square_meter": 20})
        rows = {r[1]: (r[2], r[3]) for r in res.rows}
        assert rows[int(E.buildings__rooms__heating_thermal__laboratories)] == (1, approx(66.0))
        assert int(E.buildings__rooms__heating_elec__laboratories) not in rows
        assert rows[int(E.buildings__rooms__lighting__laboratories)] == (2, approx(10.0))

    def test_unknown_room_type_falls_back_to_energy_nodes(self, run, factor):
        res = run(D.building, [room_factor(factor)],
                  {"building_name": "BC", "room_name": "x", "room_type": "greenhouse",
                   "room_surface_square_meter": 10})
        assert [r[1] for r in res.rows] == NODES[:4]
        assert [r[3] for r in res.rows] == [approx(5.0), approx(20.0), approx(10.0),
                                            approx(30.0)]

    def test_surface_from_reference_rooms_and_allocation_ratio(self, run, factor):
        # "bc-125" is the reference room "BC 125" (20 m²); half of it is allocated.
        res = run(D.building, [room_factor(factor)],
                  {"building_name": "BC", "room_name": "bc-125", "room_type": "libraries",
                   "room_allocation_ratio": 0.5})
        assert sum(r[3] for r in res.rows) == approx(65.0)

    def test_room_type_specific_factor_wins_then_kind_only_fallback(self, run, factor):
        generic = room_factor(factor, 1)
        labs = room_factor(factor, 2, room_type="laboratories", ef_kg_co2eq_per_kwh=0.2)
        res = run(D.building, [generic, labs],
                  {"building_name": "BC", "room_name": "a", "room_type": "laboratories",
                   "room_surface_square_meter": 1},
                  {"building_name": "BC", "room_name": "b", "room_type": "office",
                   "room_surface_square_meter": 1})
        assert {r[0]: r[5] for r in res.rows} == {1: 2, 2: 1}

    def test_unknown_room_without_surface_is_an_error_and_unknown_building_a_miss(
            self, run, factor):
        res = run(D.building, [room_factor(factor)],
                  {"building_name": "BC", "room_name": "nowhere", "room_type": "office"},
                  {"building_name": "ZZ", "room_name": "x", "room_type": "office",
                   "room_surface_square_meter": 5})
        assert res.errors[0][0] == 1 and "no surface for room 'nowhere'" in res.errors[0][1]
        assert res.missing == [2]


class TestCombustion:
    @pytest.fixture
    def fuels(self, factor):  # type: ignore[no-untyped-def]
        return [factor(D.energy_combustion, 1, name="natural_gas", unit="kWh",
                       ef_kg_co2eq_per_unit=0.2),
                factor(D.energy_combustion, 2, name="propane", unit="kWh",
                       ef_kg_co2eq_per_unit=0.25),
                factor(D.energy_combustion, 3, name="pellets", unit="kWh",
                       ef_kg_co2eq_per_unit=0.03),
                factor(D.energy_combustion, 4, name="pellets", unit="kg",
                       ef_kg_co2eq_per_unit=0.15)]

    def test_named_fuel_leaf_and_fallback_node(self, run, fuels):
        res = run(D.energy_combustion, fuels,
                  {"name": "Natural gas", "unit": "kWh", "quantity": 1000},
                  {"name": "propane", "unit": "kWh", "quantity": 15000})
        assert [(r[1], r[2], r[3], r[5]) for r in res.rows] == [
            (int(E.buildings__combustion__natural_gas), 1, approx(200.0), 1),
            (int(E.buildings__combustion), 1, approx(3750.0), 2)]

    def test_unit_breaks_ties_between_factors_of_one_fuel(self, run, fuels):
        res = run(D.energy_combustion, fuels, {"name": "Pellets", "unit": "kg",
                                               "quantity": 3000})
        assert res.rows == [(1, int(E.buildings__combustion__pellets), 1, approx(450.0), None,
                             4)]

    def test_unknown_fuel_without_factor_is_a_miss(self, run, fuels):
        res = run(D.energy_combustion, fuels, {"name": "coal", "quantity": 10})
        assert res.missing == [1] and "name='coal'" in res.missing_reasons[1]


class TestEmbodied:
    @pytest.fixture
    def embodied(self, factor):  # type: ignore[no-untyped-def]
        return [factor(D.building_embodied_energy, 1, building_name="BC", category="new-tech",
                       ef_kgco2eq_per_m2=10),
                factor(D.building_embodied_energy, 2, building_name="BC", category="ren-env",
                       ef_kgco2eq_per_m2=5),
                factor(D.building_embodied_energy, 3, building_name="default",
                       category="new-env", ef_kgco2eq_per_m2=7)]

    def test_one_row_per_category_of_the_building(self, run, embodied):
        res = run(D.building_embodied_energy, embodied,
                  {"building_name": "bc", "room_surface_square_meter": 20})
        assert [(r[1], r[2], r[3], r[5]) for r in res.rows] == [
            (60300, 3, approx(200.0), 1), (60300, 3, approx(100.0), 2)]

    def test_default_building_fallback_and_surface_by_room_name(self, run, embodied):
        res = run(D.building_embodied_energy, embodied,
                  {"building_name": "AAB", "room_name": "AAB 0 01"})
        assert [(r[3], r[5]) for r in res.rows] == [(approx(35.5 * 7), 3)]

    def test_no_building_and_no_default_is_a_miss(self, run, embodied):
        res = run(D.building_embodied_energy, embodied[:2],
                  {"building_name": "XYZ", "room_surface_square_meter": 1})
        assert res.missing == [1]
