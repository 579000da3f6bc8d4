"""Migration 0014 (emission rows partitioned by type and year) on a populated database: the
rows are kept, each in its slice's partition with its entry's type and year; rows of a
deleted entry are not carried over; deleting an entry still deletes its rows; downgrade
puts every row back in one table, and upgrading again works: on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest

from carbon_domain.db import migrate
from tests.integration.migration_support import run_sql as _run

pytestmark = pytest.mark.integration

# Two slices (it 2025, plane 2024): three entries, five rows, and one orphan row.
_SEED = (
    "INSERT INTO units (id, institutional_code, name, level, is_active) VALUES (1, 'U1', 'one', 4,"
    " true)",
    "INSERT INTO carbon_reports (id, unit_id, year) VALUES (1, 1, 2025), (2, 1, 2024)",
    "INSERT INTO carbon_report_modules (id, carbon_report_id, module_type_id, status)"
    " VALUES (1, 1, 4, 0), (2, 2, 2, 0)",
    "INSERT INTO data_entries (id, carbon_report_module_id, data_entry_type_id, data, source,"
    " year, unit_id, created_at, updated_at) VALUES"
    " (10, 1, 11, '{}', 'csv', 2025, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),"
    " (11, 1, 11, '{}', 'csv', 2025, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),"
    " (20, 2, 20, '{}', 'csv', 2024, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO data_entry_emissions (data_entry_id, emission_type_id, scope, kg_co2eq,"
    " additional_value, primary_factor_id) VALUES (10, 40101, 3, 1.5, NULL, NULL),"
    " (10, 40102, 3, 2.25, 4.0, NULL), (11, 40101, 3, 0.5, NULL, NULL),"
    " (20, 20101, 3, 100.0, NULL, NULL), (20, 20102, 3, 7.0, NULL, NULL),"
    " (999, 40101, 3, 9.0, NULL, NULL)",
)
_ROWS = "SELECT data_entry_id, emission_type_id, kg_co2eq FROM data_entry_emissions ORDER BY 1, 2"
_KEPT = [(10, 40101, 1.5), (10, 40102, 2.25), (11, 40101, 0.5), (20, 20101, 100.0),
         (20, 20102, 7.0)]


def _seed(url: str) -> None:
    migrate.upgrade(url, "0013")
    # The orphan row (entry 999) is what a crash could leave before the triggers; the
    # SQLite trigger would not stop it either.
    for statement in _SEED:
        _run(url, statement)


def test_0014_keeps_every_row_with_its_slice_and_downgrades(url: str) -> None:
    _seed(url)
    migrate.upgrade(url, "0014")
    assert _run(url, _ROWS) == _KEPT  # the orphan row is gone, the rest kept
    assert sorted(_run(url, "SELECT data_entry_id, data_entry_type_id, year FROM"
                            " data_entry_emissions")) == [
        (10, 11, 2025), (10, 11, 2025), (11, 11, 2025), (20, 20, 2024), (20, 20, 2024)]
    if url.startswith("postgresql"):
        leaves = _run(url, "SELECT tableoid::regclass::text, count(*) FROM"
                           " data_entry_emissions GROUP BY 1 ORDER BY 1")
        assert leaves == [("data_entry_emissions_t11_y2025", 3),
                          ("data_entry_emissions_t20_y2024", 2)]
        # The partition's own defaults: six columns written into it land in its slice.
        _run(url, "INSERT INTO data_entry_emissions_t11_y2025 (data_entry_id,"
                  " emission_type_id, scope, kg_co2eq) VALUES (11, 40102, 3, 0.25)")
        assert _run(url, "SELECT data_entry_type_id, year FROM data_entry_emissions"
                         " WHERE kg_co2eq = 0.25") == [(11, 2025)]
        _run(url, "DELETE FROM data_entry_emissions WHERE kg_co2eq = 0.25")
    _run(url, "DELETE FROM data_entries WHERE id = 10")  # the trigger follows the slice
    assert _run(url, _ROWS) == _KEPT[2:]
    migrate.downgrade(url, "0013")
    assert _run(url, _ROWS) == _KEPT[2:]
    _run(url, "DELETE FROM data_entries WHERE id = 11")  # 0008's trigger is back
    assert _run(url, _ROWS) == _KEPT[3:]
    migrate.upgrade(url, "0014")
    assert _run(url, _ROWS) == _KEPT[3:]
