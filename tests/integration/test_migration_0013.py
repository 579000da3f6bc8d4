"""Migration 0013 (upload previews) on a populated database: upgrade adds the table next to
the existing jobs and factors (which it leaves alone), a preview row can be stored, downgrade
drops the table and keeps the rest, and upgrading again works: on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from carbon_domain.db import migrate
from tests.integration.migration_support import run_sql as _run

pytestmark = pytest.mark.integration


def test_0013_adds_the_preview_table_and_downgrades(url: str) -> None:
    migrate.upgrade(url, "0012")
    _run(url, "INSERT INTO data_ingestion_jobs (id, job_type, module_type_id,"
              " data_entry_type_id, year, target_type, ingestion_method, state, meta,"
              " created_by) VALUES (7, 'factor_ingest', 4, 11, 2025, 'FACTORS', 'csv',"
              " 'FINISHED', '{}', 'ops')")
    migrate.upgrade(url, "0013")
    _run(url, "INSERT INTO upload_previews (job_id, upload_id, module_type_id, year, mode,"
              " created_at, expires_at, inputs_mark, figures) VALUES (8, 1, 4, 2025,"
              " 'replace', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 7, '{\"total\": {}}')")
    assert _run(url, "SELECT job_id, inputs_mark FROM upload_previews") == [(8, 7)]
    migrate.downgrade(url, "0012")
    engine = create_engine(url)
    assert "upload_previews" not in inspect(engine).get_table_names()
    engine.dispose()
    assert _run(url, "SELECT id FROM data_ingestion_jobs") == [(7,)]
    migrate.upgrade(url, "0013")
    assert _run(url, "SELECT count(*) FROM upload_previews") == [(0,)]
