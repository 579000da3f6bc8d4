"""Unused CSV columns are reported with the nearest expected name (issue 11 item 7)."""

from __future__ import annotations

import pytest

from carbon_domain import csv_rows
from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.csv_rows.columns import MAX_REPORTED

IT_FACTOR = csv_rows.factor_known_columns(ModuleType.equipment, DataEntryType.it)
EQUIPMENT_ENTRY = csv_rows.entry_known_columns(ModuleType.equipment, None)


def test_misspelt_column_gets_its_nearest_name_in_file_order() -> None:
    header = ["equipment_class", "subclass", "active_power_w", "ef_kg_co2eq_per_kwh", "owner",
              "stanby_power_w"]
    found, total = csv_rows.unknown_columns(header, IT_FACTOR)
    assert total == 3
    assert [c.as_dict() for c in found] == [
        {"column": "subclass", "suggestion": "sub_class"},
        {"column": "owner", "suggestion": None},
        {"column": "stanby_power_w", "suggestion": "standby_power_w"}]
    assert found[0].sentence() == "column 'subclass' is not used — did you mean 'sub_class'?"
    assert found[1].sentence() == "column 'owner' is not used"


def test_known_columns_are_never_reported() -> None:
    factor_header = ["EQUIPMENT_CATEGORY ", "data_entry_type", "equipment_class", "sub_class",
                     "note", ""]
    assert csv_rows.unknown_columns(factor_header, IT_FACTOR) == ([], 0)
    entry_header = ["unit_institutional_id", "equipment_category", "equipment_id", "name",
                    "equipment_class", "sub_class", "active_usage_hours_per_week",
                    "standby_usage_hours_per_week", "note", "kg_co2eq"]
    assert csv_rows.unknown_columns(entry_header, EQUIPMENT_ENTRY) == ([], 0)
    purchases = csv_rows.factor_known_columns(ModuleType.purchase, None)
    # The real purchase factor template carries a description column.
    assert "purchase_institutional_description" in purchases
    assert csv_rows.unknown_columns(["parent_institutional_code", "level"],
                                    csv_rows.reference_known_columns("units")) == ([], 0)


def test_a_huge_header_reports_the_first_columns_and_counts_all() -> None:
    header = ["equipment_class", *(f"extra_{i}" for i in range(10_000))]
    found, total = csv_rows.unknown_columns(header, IT_FACTOR)
    assert total == 10_000 and len(found) == MAX_REPORTED
    assert found[0].column == "extra_0"
    text = csv_rows.describe_unknown(found, total)
    # Every reported column is named (not three, then "and 9997 more"); past them, a count.
    assert text.startswith("10000 columns ignored: 'extra_0', 'extra_1', 'extra_2', 'extra_3'")
    assert "'extra_49'" in text and text.endswith("(and 9950 more unused columns)")


def test_near_misses_are_misspellings_not_any_extra_column() -> None:
    header = ["unit_institutional_id", "equipment_id", "name", "equipment_class",
              "standby_usage_hours_per_wk", "unit_name", "comment", "subclass"]
    misses = csv_rows.near_misses(header, EQUIPMENT_ENTRY)
    assert [c.as_dict() for c in misses] == [
        {"column": "standby_usage_hours_per_wk", "suggestion": "standby_usage_hours_per_week"},
        {"column": "subclass", "suggestion": "sub_class"}]
    text = csv_rows.describe_near_misses(misses)
    assert ("'standby_usage_hours_per_wk' (did you mean 'standby_usage_hours_per_week'?)"
            in text)
    assert csv_rows.near_misses(["name", "unit_name", "comment", "owner"],
                                EQUIPMENT_ENTRY) == []


def test_a_misspelt_required_column_names_the_near_miss_in_the_file() -> None:
    problem = csv_rows.factor_header_problem(
        ModuleType.equipment, DataEntryType.it,
        ["equipment_class", "sub_class", "activ_power_w", "standby_power_w",
         "ef_kg_co2eq_per_kwh"])
    assert problem == ("missing required column(s): active_power_w (the file has"
                       " 'activ_power_w': a misspelling?)")
    # A known column of the file is never offered as the misspelling (max for min).
    problem = csv_rows.factor_header_problem(
        ModuleType.professional_travel, DataEntryType.plane,
        ["category", "cabin_class", "max_distance", "ef_kg_co2eq_per_km"])
    assert problem is not None and "min_distance" in problem and "file has" not in problem
    rooms = csv_rows.reference_header_problem(
        "building-rooms", ["building_name", "room_name", "room_surface_square_metre"])
    assert rooms == ("missing required column(s): room_surface_square_meter (the file has"
                     " 'room_surface_square_metre': a misspelling?)")


def test_a_file_meant_for_another_module_says_which() -> None:
    """IT factors uploaded to headcount were refused with 'ef_kg_co2eq_per_kwh … a
    misspelling?' of headcount's column, leaving the operator to fix a column that was right.
    The refusal now also names the module whose upload takes the file as it is."""
    from carbon_domain.services.inputs.csv_input import CsvProblem
    from carbon_domain.services.inputs.validation import validate_upload

    it = (b"equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
          b"Laptop,Standard,100,10,0.1\n")
    hint = "; these are the columns of equipment factors: was the file meant for that module?"
    for module, det in ((ModuleType.headcount, DataEntryType.member),
                        (ModuleType.headcount, None)):
        with pytest.raises(CsvProblem) as refused:
            validate_upload("factors", it, module, det)
        assert str(refused.value).endswith(hint), refused.value
    # Its own module's problem (which type?) gets no such hint, and the right module takes it.
    with pytest.raises(CsvProblem) as refused:
        validate_upload("factors", it, ModuleType.equipment, None)
    assert "these are the columns" not in str(refused.value)
    assert validate_upload("factors", it, ModuleType.equipment, DataEntryType.it)
