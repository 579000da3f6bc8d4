"""CSV row schemas: good rows, one clear reason per bad row, header problems, routing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.catalog import ModuleType as M
from carbon_domain.csv_rows import (
    OVERRIDE_KEY,
    RowError,
    canonical_classification,
    classification_key,
    entry_header_problem,
    factor_header_problem,
    parse_entry_row,
    parse_factor_row,
)

# Copies of the real CSV templates and smoke files of the system we replace.
TEMPLATES = Path(__file__).parent / "csv_templates"


def rows_of(name: str) -> list[dict[str, str]]:
    with (TEMPLATES / name).open(encoding="utf-8", errors="replace") as f:
        return list(csv.DictReader(f))


class TestFactorRows:
    def test_purchase_factor_routed_by_purchase_category(self):
        row = {"currency": "eur", "purchase_category": "biological_chemical_gaseous_product",
               "purchase_institutional_code": "51100000", "purchase_additional_code": "",
               "purchase_institutional_description": "ignored", "ef_kg_co2eq_per_currency": "0.455"}
        p = parse_factor_row(M.purchase, None, row)
        assert (p.det, p.emission_type_id) == (63, 90500)
        assert p.classification == {"purchase_additional_code": None,
                                    "purchase_institutional_code": "51100000"}
        assert list(p.classification) == sorted(p.classification)
        assert p.values == {"ef_kg_co2eq_per_currency": 0.455, "currency": "eur"}

    def test_headcount_factor_gets_the_most_specific_type(self):
        row = {"data_entry_type": "member", "headcount_category": "waste",
               "headcount_class": "recycling", "headcount_subclass": "paper",
               "number_of_unit_per_fte": "10", "ef_kg_co2eq_per_unit": "0.3"}
        p = parse_factor_row(M.headcount, None, row)
        assert (p.det, p.emission_type_id) == (1, 2000401)
        assert p.classification["unit"] is None  # every handler key present, blank → None

    @pytest.mark.parametrize(("module", "det", "row", "et"), [
        (M.equipment, None, {"equipment_category": "IT", "equipment_class": "Monitors",
                             "active_power_w": "30", "ef_kg_co2eq_per_kwh": "0.1"}, 80200),
        (M.professional_travel, D.plane, {"category": "short", "cabin_class": "Eco",
                                          "ef_kg_co2eq_per_km": "0.29", "min_distance": "0",
                                          "max_distance": "2500"}, 50203),
        (M.professional_travel, D.train, {"country_code": "row",
                                          "ef_kg_co2eq_per_km": "0.03"}, 50100),
        (M.buildings, D.building, {"building_name": "BC", "ef_kg_co2eq_per_kwh": "0.1",
                                   "energy_type": "elec"}, 60100),
        (M.buildings, D.energy_combustion, {"name": "Propane", "unit": "kWh",
                                            "ef_kg_co2eq_per_unit": "0.2"}, 60200),
        (M.buildings, D.building_embodied_energy, {"building_name": "default",
                                                   "category": "ren_tech",
                                                   "ef_kgco2eq_per_m2": "5"}, 60300),
        (M.external_cloud_and_ai, D.external_clouds, {"service_type": "storage",
                                                      "provider": "GCP",
                                                      "ef_kg_co2eq_per_currency": "0.1"},
         110103),
        (M.external_cloud_and_ai, D.external_ai, {"provider": "Some New AI",
                                                  "ef_kg_co2eq_per_request": "1"}, 110206),
        (M.process_emissions, None, {"category": "Refrigerant", "subcategory": "R32",
                                     "ef_kg_co2eq_per_unit": "675"}, 70400),
        (M.purchase, D.additional_purchases, {"name": "Liquid Nitrogen",
                                              "ef_kg_co2eq_per_kg": "0.2"}, 90901),
        (M.research_facilities, D.research_facilities, {"researchfacility_id": "R",
                                                        "researchfacility_name": "RCP"},
         100300),
        (M.research_facilities, D.mice_and_fish_animal_facilities,
         {"researchfacility_id": "R", "researchfacility_type": "fish"}, 10020002),
    ])
    def test_factor_emission_type_at_ingest(self, module, det, row, et):
        assert parse_factor_row(module, det, row).emission_type_id == et

    @pytest.mark.parametrize(("row", "reason"), [
        ({"equipment_class": "", "active_power_w": "1", "ef_kg_co2eq_per_kwh": "1"},
         "equipment_class is required"),
        ({"equipment_class": "A", "active_power_w": "abc", "ef_kg_co2eq_per_kwh": "1"},
         "active_power_w: 'abc' is not a number"),
        ({"equipment_class": "A", "active_power_w": "-3", "ef_kg_co2eq_per_kwh": "1"},
         "active_power_w must be at least 0 (got -3)"),
        ({"equipment_class": "A", "active_power_w": "NaN", "ef_kg_co2eq_per_kwh": "1"},
         "active_power_w: 'NaN' is not a number"),
        ({"equipment_class": "A", "active_power_w": "inf", "ef_kg_co2eq_per_kwh": "1"},
         "active_power_w: 'inf' is not a number"),
        ({"equipment_class": "A", "active_power_w": "1e309", "ef_kg_co2eq_per_kwh": "1"},
         "active_power_w: '1e309' is too large"),
        ({"equipment_class": "A", "active_power_w": "1", "ef_kg_co2eq_per_kwh": ""},
         "ef_kg_co2eq_per_kwh is required"),
        ({"equipment_class": "A", "active_power_w": "1", "ef_kg_co2eq_per_kwh": "1",
          "active_usage_hours_per_week": "100", "standby_usage_hours_per_week": "100"},
         "active + standby usage hours per week exceed 168 (got 200)"),
    ])
    def test_bad_equipment_factor_rows(self, row, reason):
        with pytest.raises(RowError) as exc:
            parse_factor_row(M.equipment, D.it, row)
        assert str(exc.value) == reason

    @pytest.mark.parametrize(("module", "det", "row", "reason"), [
        (M.professional_travel, D.plane, {"category": "x", "cabin_class": "premium",
                                          "ef_kg_co2eq_per_km": "1", "min_distance": "0",
                                          "max_distance": "1"},
         "cabin_class: 'premium' is not one of first, business, economy"),
        (M.professional_travel, D.plane, {"category": "x", "cabin_class": "first",
                                          "ef_kg_co2eq_per_km": "1", "min_distance": "10",
                                          "max_distance": "5"},
         "max_distance (5) must be greater than min_distance (10)"),
        (M.headcount, D.member, {"headcount_category": "food_waste",
                                 "number_of_unit_per_fte": "1", "ef_kg_co2eq_per_unit": "1"},
         "cannot tell the emission type of this member factor "
         "(headcount_category='food_waste')"),
        (M.equipment, None, {"equipment_category": "", "equipment_class": "A",
                             "active_power_w": "1", "ef_kg_co2eq_per_kwh": "1"},
         "cannot tell the data entry type: fill the data_entry_type column"),
        (M.equipment, None, {"equipment_category": "kitchen", "equipment_class": "A"},
         "equipment_category: 'kitchen' is not a data entry type of module equipment "
         "(scientific, it, other)"),
        (M.equipment, D.scientific, {"equipment_category": "it", "equipment_class": "A"},
         "row is for it but the upload is for scientific"),
    ])
    def test_bad_factor_rows_give_one_reason(self, module, det, row, reason):
        with pytest.raises(RowError) as exc:
            parse_factor_row(module, det, row)
        assert str(exc.value) == reason

    def test_canonical_classification_and_key(self):
        c = canonical_classification({"b": " x ", "a": "", "c": None})
        assert c == {"a": None, "b": "x", "c": None} and list(c) == ["a", "b", "c"]
        assert classification_key({"b": "x", "a": None}) == '{"a":null,"b":"x"}'
        assert classification_key({"a": None, "b": "x"}) == classification_key(
            {"b": " x", "a": ""})


class TestFactorHeaders:
    def test_good_headers(self):
        header = list(rows_of("purchases_common_factors_smoke.csv")[0])
        assert factor_header_problem(M.purchase, None, header) is None
        assert factor_header_problem(M.process_emissions, None,
                                     ["category", "ef_kg_co2eq_per_unit", "extra"]) is None

    def test_missing_columns_are_named(self):
        assert factor_header_problem(M.equipment, D.it, ["equipment_class"]) == (
            "missing required column(s): active_power_w, ef_kg_co2eq_per_kwh")

    def test_routing_needed_for_multi_type_module(self):
        msg = factor_header_problem(M.equipment, None, ["equipment_class", "active_power_w",
                                                        "ef_kg_co2eq_per_kwh"])
        assert msg is not None and "data_entry_type" in msg

    def test_type_of_another_module_and_empty_header(self):
        assert "does not belong to module" in (factor_header_problem(M.equipment, D.plane,
                                                                     ["x"]) or "")
        assert factor_header_problem(M.equipment, D.it, []) == "the file has no header row"


class TestEntryRows:
    @pytest.mark.parametrize(("name", "module", "det"), [
        ("travel_planes_smoke.csv", M.professional_travel, D.plane),
        ("travel_trains_smoke.csv", M.professional_travel, D.train),
        ("building_rooms_smoke.csv", M.buildings, D.building),
        ("building_energycombustions_smoke.csv", M.buildings, D.energy_combustion),
        ("equipments_smoke.csv", M.equipment, D.it),
        ("external_clouds_smoke.csv", M.external_cloud_and_ai, D.external_clouds),
        ("process_emissions_smoke.csv", M.process_emissions, None),
        ("purchases_common_smoke.csv", M.purchase, D.it_equipment),
        ("researchfacilities_common_smoke.csv", M.research_facilities, D.research_facilities),
    ])
    def test_smoke_files_parse(self, name, module, det):
        rows = rows_of(name)
        assert entry_header_problem(module, det, list(rows[0])) is None
        parsed = [parse_entry_row(module, det, r) for r in rows]
        assert all(p.unit_institutional_id for p in parsed)

    @pytest.mark.parametrize(("name", "module", "det", "n"), [
        ("equipment_IT_template.csv", M.equipment, None, 1),
        ("headcount_template.csv", M.headcount, D.member, 8),
        ("purchases_biological_chemical_gaseous_template.csv", M.purchase, D(63), 1),
        ("purchases_additional_template.csv", M.purchase, D.additional_purchases, 1),
        ("researchfacilities_animals_template.csv", M.research_facilities, D(71), 1),
        ("external_ai_template.csv", M.external_cloud_and_ai, D.external_ai, 4),
    ])
    def test_templates_parse_without_unit_column(self, name, module, det, n):
        rows = rows_of(name)
        assert entry_header_problem(module, det, list(rows[0])) == (
            "missing required column(s): unit_institutional_id")
        assert entry_header_problem(module, det, list(rows[0]), require_unit=False) is None
        ok = []
        for r in rows:
            try:
                ok.append(parse_entry_row(module, det, r))
            except RowError:
                pass
        assert len(ok) == n

    def test_override_note_and_literal_strings(self):
        p = parse_entry_row(M.equipment, D.it, {
            "unit_institutional_id": "U1", "equipment_class": "=CMD()",
            "name": "'; DROP TABLE units;--", "note": "@SUM(A1)", "kg_co2eq": "12.5"})
        assert p.data == {"equipment_class": "=CMD()", "name": "'; DROP TABLE units;--",
                          "note": "@SUM(A1)", OVERRIDE_KEY: 12.5}
        assert p.unit_institutional_id == "U1"

    @pytest.mark.parametrize(("det", "row", "reason"), [
        (D.member, {"fte": "1.5"}, "fte must be at most 1 (got 1.5)"),
        (D.member, {"fte": ""}, "fte is required"),
        (D.student, {"fte": "-1"}, "fte must be at least 0 (got -1)"),
        (D.plane, {"origin_iata": "GVA", "destination_iata": "CDG", "cabin_class": "economy",
                   "number_of_trips": "0"}, "number_of_trips must be at least 1 (got 0)"),
        (D.plane, {"origin_iata": "GVA", "destination_iata": "CDG", "cabin_class": "economy",
                   "number_of_trips": "2.5"}, "number_of_trips must be a whole number (got '2.5')"),
        (D.plane, {"origin_iata": "Geneva", "destination_iata": "CDG",
                   "cabin_class": "economy"},
         "origin_iata: 'Geneva' is not one of 3-letter IATA code"),
        (D.train, {"origin_name": "Geneva", "origin_country_code": "Switzerland",
                   "destination_name": "Bern", "destination_country_code": "CH",
                   "cabin_class": "second"},
         "origin_country_code: 'Switzerland' is not one of ISO-2 code"),
        (D.building, {"building_name": "BC", "room_name": "1", "room_allocation_ratio": "2"},
         "room_allocation_ratio must be at most 1 (got 2)"),
        (D.building_embodied_energy, {"building_name": "BC"},
         "room_surface_square_meter or room_name is required"),
        (D.external_ai, {"provider": "X", "requests_per_user_per_day": "lots",
                         "fte_count": "1"},
         "requests_per_user_per_day: 'lots' is not one of 1_5, 5_20, 20_100, gt_100"),
        (D.external_ai, {"provider": "X", "requests_per_user_per_day": "1_5",
                         "fte_count": "0.01"}, "fte_count must be at least 0.1 (got 0.01)"),
        (D.external_clouds, {"service_type": "compute", "provider": "AWS",
                             "spent_amount": "1", "currency": "btc"},
         "currency: 'btc' is not one of eur, chf, usd, gbp, jpy, cad, aud, cny, sek"),
        (D.it, {"equipment_class": "A", "kg_co2eq": "-1"}, "kg_co2eq must be at least 0 (got -1)"),
    ])
    def test_bad_entry_rows_give_one_reason(self, det, row, reason):
        from carbon_domain.catalog import MODULE_OF
        with pytest.raises(RowError) as exc:
            parse_entry_row(MODULE_OF[det], det, row)
        assert str(exc.value) == reason

    def test_unknown_places_checked_against_reference_data(self, refs):
        for name, det in (("travel_planes_unknown_iata.csv", D.plane),
                          ("travel_trains_unknown_station.csv", D.train)):
            (row,) = rows_of(name)
            parse_entry_row(M.professional_travel, det, row)  # syntactically fine
            with pytest.raises(RowError, match="unknown"):
                parse_entry_row(M.professional_travel, det, row, refs=refs)

    def test_generic_data_entry_type_column_routes_any_module(self):
        p = parse_entry_row(M.headcount, None, {"data_entry_type": "2", "fte": "30"})
        assert p.det == D.student
        p = parse_entry_row(M.purchase, None, {"purchase_category": "additional",
                                               "name": "LN2", "annual_consumption": "1"})
        assert p.det == D.additional_purchases

    def test_header_needs_routing_or_a_type(self):
        msg = entry_header_problem(M.headcount, None, ["fte", "unit_institutional_id"])
        assert msg is not None and "data_entry_type" in msg
        assert entry_header_problem(M.headcount, D.member,
                                    ["FTE ", "\ufeffunit_institutional_id"]) is None
