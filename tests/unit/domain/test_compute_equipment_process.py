"""Hand-computed emissions for equipment (10, 11, 12) and process emissions (50)."""

from __future__ import annotations

import pytest

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.emission_types import EmissionType as E

approx = pytest.approx


def laptop(factor, det, fid=1, sub_class=None, **extra):  # type: ignore[no-untyped-def]
    cols = dict(equipment_class="Laptop", sub_class=sub_class, active_power_w=100,
                standby_power_w=10, ef_kg_co2eq_per_kwh=0.1)
    return factor(det, fid, **{**cols, **extra})


class TestEquipment:
    @pytest.mark.parametrize(("det", "leaf"), [(D.scientific, E.equipment__scientific),
                                               (D.it, E.equipment__it),
                                               (D.other, E.equipment__other)])
    def test_worked_example_on_each_type(self, run, factor, det, leaf):
        res = run(det, [laptop(factor, det)],
                  {"equipment_class": "Laptop", "active_usage_hours_per_week": 40,
                   "standby_usage_hours_per_week": 128})
        # (40 h × 100 W + 128 h × 10 W) × 52 / 1000 = 274.56 kWh × 0.1 = 27.46 kg
        assert res.rows == [(1, int(leaf), 2, approx(27.456), None, 1)]

    def test_blank_hours_take_the_factors_default_usage(self, run, factor):
        f = laptop(factor, D.it, active_usage_hours_per_week=10,
                   standby_usage_hours_per_week=20)
        res = run(D.it, [f], {"equipment_class": "laptop"})
        assert res.rows[0][3] == approx((10 * 100 + 20 * 10) * 52 / 1000 * 0.1)

    def test_subclass_match_then_kind_only_fallback(self, run, factor):
        generic = laptop(factor, D.it, 1)
        standard = laptop(factor, D.it, 2, sub_class="Standard", active_power_w=50)
        res = run(D.it, [generic, standard],
                  {"equipment_class": "Laptop", "sub_class": "standard"},
                  {"equipment_class": "LAPTOP ", "sub_class": "Gaming"},
                  {"equipment_class": "Laptop"})
        assert [r[5] for r in res.rows] == [2, 1, 1]

    def test_subkind_fallback_needs_a_factor_without_subkind(self, run, factor):
        res = run(D.it, [laptop(factor, D.it, sub_class="Standard")],
                  {"equipment_class": "Laptop", "sub_class": "Gaming"},
                  {"equipment_class": "Monitor"})
        assert res.missing == [1, 2] and res.rows == []

    def test_hours_over_a_week_is_an_error(self, run, factor):
        res = run(D.it, [laptop(factor, D.it)],
                  {"equipment_class": "Laptop", "active_usage_hours_per_week": 100,
                   "standby_usage_hours_per_week": 100},
                  {"equipment_class": "Laptop", "active_usage_hours_per_week": "lots"})
        assert res.errors == [
            (1, "active + standby usage hours per week exceed 168 (got 200)"),
            (2, "active_usage_hours_per_week: 'lots' is not a number")]


class TestProcessEmissions:
    @pytest.fixture
    def gases(self, factor):  # type: ignore[no-untyped-def]
        return [factor(D.process_emissions, 1, category="CO2", unit="kg",
                       ef_kg_co2eq_per_unit=1),
                factor(D.process_emissions, 2, category="CH4", ef_kg_co2eq_per_unit=28),
                factor(D.process_emissions, 3, category="N2O", ef_kg_co2eq_per_unit=265),
                factor(D.process_emissions, 4, category="Refrigerant", subcategory="R134a",
                       ef_kg_co2eq_per_unit=1430),
                factor(D.process_emissions, 5, category="refrigerants",
                       ef_kg_co2eq_per_unit=2000)]

    def test_each_gas_lands_on_its_scope_1_leaf(self, run, gases):
        res = run(D.process_emissions, gases,
                  {"category": "co2", "subcategory": "industrial", "quantity": 100},
                  {"category": "ch4", "quantity": 2},
                  {"category": "N2O", "quantity": 1},
                  {"category": "Refrigerant", "subcategory": "r134a", "quantity": 2})
        assert [(r[1], r[2], r[3], r[5]) for r in res.rows] == [
            (int(E.process_emissions__co2), 1, approx(100.0), 1),
            (int(E.process_emissions__ch4), 1, approx(56.0), 2),
            (int(E.process_emissions__n2o), 1, approx(265.0), 3),
            (int(E.process_emissions__refrigerants), 1, approx(2860.0), 4)]

    def test_unknown_refrigerant_uses_the_generic_refrigerant_factor(self, run, gases):
        res = run(D.process_emissions, gases,
                  {"category": "refrigerants", "subcategory": "R999", "quantity": 1})
        assert [(r[3], r[5]) for r in res.rows] == [(approx(2000.0), 5)]

    def test_unknown_gas_is_an_error(self, run, gases):
        res = run(D.process_emissions, gases, {"category": "xenon", "quantity": 1})
        assert res.errors == [(1, "cannot resolve an emission type from category='xenon'")]
