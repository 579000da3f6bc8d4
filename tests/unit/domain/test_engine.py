"""compute_batch behaviour shared by every type: overrides, relinking, errors, storable rows."""

from __future__ import annotations

import pytest

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.emission_types import SCOPE_OF
from carbon_domain.engine import compute_batch, link_factor, match_factor
from carbon_domain.matching import FactorIndex

approx = pytest.approx


@pytest.fixture
def laptop(factor):  # type: ignore[no-untyped-def]
    return factor(D.it, 7, equipment_class="Laptop", active_power_w=100, standby_power_w=10,
                  ef_kg_co2eq_per_kwh=0.1)


class TestOverride:
    def test_override_gives_one_row_without_factor(self, run, laptop):
        res = run(D.it, [laptop], {"equipment_class": "Laptop",
                                   "__kg_co2eq_override__": 12.5})
        assert res.rows == [(1, 80200, 2, 12.5, None, None)]

    def test_override_is_kept_when_no_factor_matches(self, run, laptop):
        res = run(D.it, [laptop], {"equipment_class": "Printer",
                                   "__kg_co2eq_override__": "3"})
        assert res.rows == [(1, 80200, 2, 3.0, None, None)] and res.missing == []

    def test_multi_row_type_override_lands_on_the_first_resolved_type(self, run):
        res = run(D.member, [], {"fte": 1, "__kg_co2eq_override__": 99})
        assert res.rows == [(1, 10000, 3, 99.0, None, None)]

    @pytest.mark.parametrize("bad", ["abc", -1, float("nan"), float("inf")])
    def test_bad_override_is_an_error(self, run, laptop, bad):
        res = run(D.it, [laptop], {"equipment_class": "Laptop", "__kg_co2eq_override__": bad})
        assert res.rows == [] and res.errors[0][0] == 1


class TestRelinking:
    def test_strategy_a_entries_are_rematched_not_trusted(self, run, laptop):
        res = run(D.it, [laptop],
                  {"equipment_class": "Laptop", "primary_factor_id": 7},
                  {"equipment_class": "Laptop", "primary_factor_id": 3},  # stale link
                  {"equipment_class": "Laptop"},
                  {"equipment_class": "Gone", "primary_factor_id": 7})  # strict drop
        assert res.relinked == {2: 7, 3: 7, 4: None}
        assert [r[0] for r in res.rows] == [1, 2, 3] and res.missing == [4]

    def test_link_factor_at_ingest(self, laptop):
        index = FactorIndex(D.it, [laptop], year=2024)
        assert link_factor(D.it, {"equipment_class": " laptop "}, index) == 7
        assert match_factor(D.it, {"equipment_class": "x"}, index) == (
            None, "no factor for equipment_class='x'")
        assert link_factor(D.plane, {"cabin_class": "economy"},
                           FactorIndex(D.plane, [], year=2024)) is None


class TestRobustness:
    def test_bad_entries_never_raise_and_never_produce_rows(self, run, laptop):
        res = run(D.it, [laptop],
                  {"equipment_class": "Laptop", "active_usage_hours_per_week": -5},
                  {"equipment_class": "Laptop", "active_usage_hours_per_week": [1, 2]},
                  {"equipment_class": "Laptop", "active_usage_hours_per_week": 1e308,
                   "standby_usage_hours_per_week": 0},
                  {"equipment_class": "Laptop"})
        assert [e[0] for e in res.errors] == [1, 2, 3]
        assert [r[0] for r in res.rows] == [4] and res.entries == 4

    def test_empty_batch(self, laptop, refs):
        res = compute_batch(D.it, [], FactorIndex(D.it, [laptop], year=2024), refs)
        assert (res.rows, res.errors, res.missing, res.entries) == ([], [], [], 0)

    def test_formula_injection_is_just_data(self, run, laptop):
        res = run(D.it, [laptop], {"equipment_class": "=CMD()", "name": "'; DROP TABLE x;--"})
        assert res.missing == [1] and res.errors == []


def test_no_output_row_has_a_scope_less_type(run, factor):
    """Every emission row of a mixed set of entries carries its type's scope."""
    rooms = [factor(D.building, 1, building_name="BC", ef_kg_co2eq_per_kwh=0.1,
                    lighting_kwh_per_square_meter=1, cooling_kwh_per_square_meter=1,
                    ventilation_kwh_per_square_meter=1, heating_kwh_per_square_meter=1,
                    energy_type="thermal")]
    res = run(D.building, rooms,
              *({"building_name": "BC", "room_name": "a", "room_type": t,
                 "room_surface_square_meter": 3}
                for t in ("office", "archives", "auditoriums", "weird", None)))
    assert len(res.rows) == 20
    assert all(SCOPE_OF[r[1]] in (1, 2, 3) and r[2] == SCOPE_OF[r[1]] for r in res.rows)
