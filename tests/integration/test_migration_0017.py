"""Migration 0017 (stats computed_at in a column) on a populated database: upgrade moves each
report's and report module's ``stats.computed_at`` into ``stats_computed_at`` and out of
the JSON, leaves stats never computed (NULL) alone, and the readers show the same time as
before; downgrade puts it back in the JSON: on PostgreSQL and SQLite."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from carbon_domain.db import migrate
from carbon_domain.db.models import CarbonReport, CarbonReportModule
from carbon_domain.stats import with_computed_at
from tests.integration.migration_support import run_sql as _run

pytestmark = pytest.mark.integration

AT = "2026-12-07T08:59:01.123456Z"
STATS = {"total": 2.5, "scope1": 0.0, "scope2": 2.5, "scope3": 0.0, "entry_count": 3,
         "missing_factors": 0, "by_emission_type": {"40101": 2.5}, "computed_at": AT}


def _stats(url: str, table: str) -> dict[int, object]:
    out = {}
    for i, st in _run(url, f"SELECT id, stats FROM {table} ORDER BY id"):
        out[int(i)] = json.loads(st) if isinstance(st, str) else st
    return out


def test_0017_moves_computed_at_into_its_column_and_back(url: str) -> None:
    migrate.upgrade(url, "0016")
    st = json.dumps(STATS)
    _run(url, "INSERT INTO units (id, institutional_code, institutional_id, name, level,"
              " is_active) VALUES (1, 'L1', '1', 'Lab', 4, true)")
    _run(url, "INSERT INTO units (id, institutional_code, institutional_id, name, level,"
              " is_active) VALUES (2, 'L2', '2', 'Lab', 4, true)")
    _run(url, f"INSERT INTO carbon_reports (id, unit_id, year, stats) VALUES (1, 1, 2025, '{st}')")
    _run(url, "INSERT INTO carbon_reports (id, unit_id, year, stats) VALUES (2, 2, 2025, NULL)")
    _run(url, "INSERT INTO carbon_report_modules (id, carbon_report_id, module_type_id, status,"
              f" stats) VALUES (1, 1, 4, 0, '{st}')")
    _run(url, "INSERT INTO carbon_report_modules (id, carbon_report_id, module_type_id, status,"
              " stats) VALUES (2, 2, 4, 0, NULL)")

    migrate.upgrade(url, "0017")
    stored = {k: v for k, v in STATS.items() if k != "computed_at"}
    at = datetime(2026, 12, 7, 8, 59, 1, 123456, tzinfo=UTC)
    engine = create_engine(url)
    with Session(engine) as s:
        for model in (CarbonReport, CarbonReportModule):
            rows = s.execute(select(model.id, model.stats, model.stats_computed_at)
                             .order_by(model.id)).all()
            assert [tuple(r) for r in rows] == [(1, stored, at), (2, None, None)]
            # What every reader shows is what the JSON said before the upgrade.
            assert with_computed_at(rows[0].stats, rows[0].stats_computed_at) == STATS
            assert with_computed_at(rows[1].stats, rows[1].stats_computed_at) is None
    engine.dispose()

    migrate.downgrade(url, "0016")
    for table in ("carbon_reports", "carbon_report_modules"):
        assert _stats(url, table) == {1: STATS, 2: None}
    migrate.upgrade(url, "0017")
    assert _stats(url, "carbon_reports") == {1: stored, 2: None}
