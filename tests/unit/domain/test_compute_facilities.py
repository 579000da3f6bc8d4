"""Research facilities (70), animal facilities (71) and their computed factor values."""

from __future__ import annotations

import pytest

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.emission_types import EmissionType as E
from carbon_domain.handlers import (
    facility_factor_values,
    facility_total_use,
    facility_total_uses,
)

approx = pytest.approx


class TestResearchFacilities:
    @pytest.fixture
    def facilities(self, factor):  # type: ignore[no-untyped-def]
        return [factor(D.research_facilities, 1, researchfacility_id="CIBM-GE",
                       researchfacility_name="CIBM", use_unit="hours", kg_co2eq_sum=5000,
                       total_use=100),
                factor(D.research_facilities, 2, researchfacility_id="SCITAS",
                       researchfacility_name="SCITAS", use_unit="CHF", kg_co2eq_sum=900,
                       total_use=3000)]

    def test_share_of_the_facility_total(self, run, facilities):
        res = run(D.research_facilities, facilities,
                  {"researchfacility_id": "cibm-ge", "researchfacility_name": "CIBM",
                   "use": 10, "use_unit": "Hours"})
        assert res.rows == [(1, int(E.research_facilities__facilities), 3, approx(500.0),
                             None, 1)]

    def test_it_facilities_by_name(self, run, facilities):
        res = run(D.research_facilities, facilities,
                  {"researchfacility_id": "SCITAS", "researchfacility_name": "scitas",
                   "use": 300, "use_unit": "chf"})
        assert [(r[1], r[3]) for r in res.rows] == [
            (int(E.research_facilities__it_facilities), approx(90.0))]

    def test_use_unit_mismatch_is_a_miss(self, run, facilities):
        res = run(D.research_facilities, facilities,
                  {"researchfacility_id": "CIBM-GE", "use": 10, "use_unit": "CHF"})
        assert res.missing == [1]

    def test_factor_without_computed_sum_is_a_miss(self, run, factor):
        f = factor(D.research_facilities, 1, researchfacility_id="X", use_unit="hours")
        res = run(D.research_facilities, [f], {"researchfacility_id": "X", "use": 1})
        assert res.missing == [1]


class TestAnimalFacilities:
    @pytest.fixture
    def cpg(self, factor):  # type: ignore[no-untyped-def]
        return factor(D.mice_and_fish_animal_facilities, 1, researchfacility_id="1321",
                      researchfacility_name="CPG", use_unit="housings", total_use=1000,
                      processemissions_share=0.5, kg_co2eq_sum_processemissions=2000,
                      building_rooms_share=1.0, kg_co2eq_sum_building_rooms=10000,
                      equipments_share=0.2)  # no equipments sum: that source is skipped

    @pytest.mark.parametrize(("kind", "leaf"), [
        ("mice", E.research_facilities__animal__mice),
        ("Fish", E.research_facilities__animal__fish),
        ("rats", E.research_facilities__animal),
    ])
    def test_sum_over_sources_on_the_animal_leaf(self, run, cpg, kind, leaf):
        res = run(D.mice_and_fish_animal_facilities, [cpg],
                  {"researchfacility_id": "1321", "researchfacility_type": kind, "use": 258,
                   "use_unit": "housings"})
        expected = 258 * 0.5 / 1000 * 2000 + 258 * 1.0 / 1000 * 10000
        assert [(r[1], r[3]) for r in res.rows] == [(int(leaf), approx(expected))]


class TestFacilityFactorValues:
    STATS = {"70200": 100.0, "60201": 50.0, "6010101": 30.0, "60104": 5.0, "90300": 200.0,
             "90901": 40.0, "90900": 2.0, "80200": 70.0, "50203": 1000.0, "10001": 3.0}

    def test_common_facility_takes_the_report_total(self):
        assert facility_factor_values(70, self.STATS, 120.0) == {
            "total_use": 120.0, "kg_co2eq_sum": approx(1500.0)}
        assert facility_factor_values(70, {}, 5, total_kg=42.0)["kg_co2eq_sum"] == 42.0

    def test_animal_facility_splits_by_source_subtree(self):
        values = facility_factor_values(71, self.STATS, 258.0)
        assert values == {
            "total_use": 258.0,
            "kg_co2eq_sum_processemissions": approx(100.0),
            "kg_co2eq_sum_building_energycombustions": approx(50.0),
            "kg_co2eq_sum_building_rooms": approx(35.0),
            "kg_co2eq_sum_purchases_common": approx(200.0),   # 90000 minus 90900 subtree
            "kg_co2eq_sum_purchases_additional": approx(42.0),
            "kg_co2eq_sum_equipments": approx(70.0),
        }

    def test_other_types_have_no_computed_factors(self):
        with pytest.raises(ValueError):
            facility_factor_values(10, {}, 1)

    def test_total_use_sums_entries_of_the_facility(self):
        entries = [{"researchfacility_id": "RF-001", "use": 10, "use_unit": "hours"},
                   {"researchfacility_id": "rf-001", "use": 5.0},
                   {"researchfacility_id": "RF-001", "use": 7, "use_unit": "CHF"},
                   {"researchfacility_id": "RF-002", "use": 99}]
        assert facility_total_use(entries, "RF-001") == 22.0
        assert facility_total_use(entries, "RF-001", use_unit="hours") == 15.0

    def test_total_uses_one_pass_over_a_stream_equals_one_sum_each(self):
        """The refresh streams the year's facility entries once for every factor: each
        sum is the one ``facility_total_use`` gives, bit for bit, from a one-shot iterator."""
        entries = [{"researchfacility_id": f"RF-00{i % 3}", "use": 0.1 * (i % 7) + 1e-9 * i,
                    "use_unit": ("hours", "CHF", None)[i % 3]} for i in range(3000)]
        entries += [{"researchfacility_id": " rf-001 ", "use": "2.5"},
                    {"researchfacility_id": "RF-001", "use": "n/a"},
                    {"researchfacility_id": None, "use": 4}, {"use": 8}]
        wanted = [("RF-001", None), ("RF-001", "hours"), ("RF-002", "CHF"), ("RF-009", None),
                  ("RF-000", "hours"), ("RF-001", None)]
        got = facility_total_uses(iter(entries), wanted)
        assert got == [facility_total_use(entries, fid, unit) for fid, unit in wanted]
        assert got[0] == got[5] and got[0] > got[1] > 0 and got[3] == 0.0

    def test_total_use_is_exact_whatever_the_order(self):
        """The database returns the entries in its plan's order: the sum must not depend
        on it (a plain float sum moved the last bits of facility factors between runs)."""
        import math
        import random

        uses = [random.Random(7).uniform(0, 10 ** random.Random(i).randint(-3, 6))
                for i in range(5000)] + [1e16, 1.0, -1e16]
        entries = [{"researchfacility_id": "RF-1", "use": u} for u in uses]
        exact = math.fsum(uses)
        assert sum(uses) != exact  # a plain sum would be off here
        for seed in range(5):
            random.Random(seed).shuffle(entries)
            assert facility_total_use(entries, "RF-1") == exact
        # Non-finite uses still give what a plain sum gives.
        assert facility_total_use([*entries, {"researchfacility_id": "RF-1", "use": "inf"}],
                                  "RF-1") == math.inf
