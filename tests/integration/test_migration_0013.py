"""Migration 0013 (upload previews) on a populated database: upgrade adds the table next to
the existing jobs and factors (which it leaves alone), a preview row can be stored, downgrade
drops the table and keeps the rest, and upgrading again works: on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from carbon_domain.db import migrate
from tests.integration.test_emission_integrity import _fresh_db

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_url(services: None) -> Iterator[str]:
    yield from _fresh_db(services)


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm13.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def _run(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    with engine.begin() as c:
        result = c.execute(text(sql))
        rows = [tuple(r) for r in result] if result.returns_rows else []
    engine.dispose()
    return rows


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
