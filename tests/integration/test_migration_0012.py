"""Migration 0012 (factor history) on a database with factors: each existing factor gets one
``recorded`` row (its state, its last changing upload and that job's author), downgrade drops
the table, and upgrading again works: on PostgreSQL and on SQLite."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from carbon_domain.db import migrate

pytestmark = pytest.mark.integration


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    with engine.connect() as c:
        rows = [tuple(r) for r in c.execute(text(sql))]
    engine.dispose()
    return rows


def test_0012_records_existing_factors_and_downgrades(url: str) -> None:
    migrate.upgrade(url, "0009")
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text(
            "INSERT INTO data_ingestion_jobs (id, job_type, module_type_id, data_entry_type_id,"
            " year, target_type, ingestion_method, state, meta, created_by) VALUES"
            " (7, 'factor_ingest', 4, 11, 2025, 'FACTORS', 'csv', 'FINISHED', '{}', 'ops')"))
        for fid, cls, job in ((1, "Laptop", 7), (2, "Desktop", None)):
            c.execute(text(
                "INSERT INTO factors (id, data_entry_type_id, emission_type_id, year,"
                " classification, classification_key, \"values\", changed_by_job_id)"
                " VALUES (:id, 11, 80200, 2025, :c, :c, :v, :j)"),
                {"id": fid, "c": json.dumps({"equipment_class": cls}),
                 "v": json.dumps({"ef": fid / 10}), "j": job})
    engine.dispose()
    migrate.upgrade(url, "0012")
    rows = _rows(url, "SELECT factor_id, job_id, change, values_before, values_after,"
                      " changed_by FROM factor_history ORDER BY id")
    parsed = [(f, j, ch, b, a if isinstance(a, dict) else json.loads(a), who)
              for f, j, ch, b, a, who in rows]
    assert parsed == [(1, 7, "recorded", None, {"ef": 0.1}, "ops"),
                      (2, None, "recorded", None, {"ef": 0.2}, None)]
    migrate.downgrade(url, "0009")
    engine = create_engine(url)
    assert "factor_history" not in inspect(engine).get_table_names()
    engine.dispose()
    migrate.upgrade(url, "0012")
    assert len(_rows(url, "SELECT * FROM factor_history")) == 2
