"""Migration 0009 moves the control keys out of ``meta`` on a database with data, and its
downgrade puts them back: on PostgreSQL and on SQLite (the embedded ``carbon demo``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from carbon_domain.db import migrate

pytestmark = pytest.mark.integration

P1, P2 = uuid.UUID(int=1), uuid.UUID(int=2)
_JOB = ("INSERT INTO data_ingestion_jobs (id, pipeline_id, job_type, module_type_id,"
        " data_entry_type_id, year, target_type, ingestion_method, state, result, meta)"
        " VALUES (:id, :p, :t, 4, :d, 2025, 'DATA_ENTRIES', 'computed', 'FINISHED', 'SUCCESS',"
        " :meta)")
# Job 1: a module job that started 2 and 3 and joined 4; job 2 promised to read input 9 and
# asked for rerun 5; job 4 names a job that no longer exists (its link is dropped).
_JOBS: list[dict[str, Any]] = [
    {"id": 1, "p": P1, "t": "module_emission_recalc", "d": None, "meta": {
        "config": {"only_stale": True, "job_ids": [2, 3], "joined_job_ids": [4]}}},
    {"id": 2, "p": P1, "t": "emission_recalc", "d": 11, "meta": {
        "config": {"position": [1, 2]}, "covers_input_job_id": 9, "rerun_job_id": 5,
        "recalculation": {"entries": 3}}},
    {"id": 3, "p": P1, "t": "emission_recalc", "d": 12, "meta": {"config": {}}},
    {"id": 4, "p": P2, "t": "emission_recalc", "d": 13, "meta": {
        "config": {"job_ids": [404]}}},
    {"id": 5, "p": P1, "t": "emission_recalc", "d": 11, "meta": {"config": {"rerun_of": 2}}},
]
_PIPELINES: list[dict[str, Any]] = [
    {"id": P1, "meta": {"linked_job_ids": [4], "awaits_aggregation": ["4:2025", "5:2024"]}},
    {"id": P2, "meta": {"aborted_by": "ops", "linked_job_ids": [404]}},
]


def _uid(url: str, u: uuid.UUID) -> str:
    # sa.Uuid stores 32 hex characters on SQLite, a native uuid on PostgreSQL.
    return u.hex if url.startswith("sqlite") else str(u)


def _seed(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        for p in _PIPELINES:
            c.execute(text("INSERT INTO pipelines (id, kind, status, job_count, error_count,"
                           " meta) VALUES (:id, 'recalc', 'RUNNING', 0, 0, :meta)"),
                      {"id": _uid(url, p["id"]), "meta": json.dumps(p["meta"])})
        for j in _JOBS:
            c.execute(text(_JOB), {**j, "p": _uid(url, j["p"]), "meta": json.dumps(j["meta"])})
    engine.dispose()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    with engine.connect() as c:
        rows = [tuple(r) for r in c.execute(text(sql))]
    engine.dispose()
    return rows


def _metas(url: str, table: str) -> dict[Any, dict[str, Any]]:
    return {str(i).replace("-", ""): (m if isinstance(m, dict) else json.loads(m))
            for i, m in _rows(url, f"SELECT id, meta FROM {table}")}


def test_0009_moves_control_keys_out_of_meta_and_back(url: str) -> None:
    migrate.upgrade(url, "0008")
    _seed(url)
    before = (_metas(url, "data_ingestion_jobs"), _metas(url, "pipelines"))
    migrate.upgrade(url)

    assert _rows(url, "SELECT id, covers_input_job_id, rerun_job_id FROM data_ingestion_jobs"
                      " ORDER BY id") == [(1, None, None), (2, 9, 5), (3, None, None),
                                          (4, None, None), (5, None, None)]
    assert _rows(url, "SELECT job_id, linked_job_id, kind FROM job_links ORDER BY 1, 2") == [
        (1, 2, "started"), (1, 3, "started"), (1, 4, "joined")]
    p1, p2 = P1.hex, P2.hex
    links = _rows(url, "SELECT pipeline_id, job_id FROM pipeline_job_links")
    assert [(str(p).replace("-", ""), j) for p, j in links] == [(p1, 4)]
    awaited = _rows(url, "SELECT pipeline_id, module_type_id, year"
                         " FROM pipeline_awaited_aggregations ORDER BY 2")
    assert [(str(p).replace("-", ""), m, y) for p, m, y in awaited] == [
        (p1, 4, 2025), (p1, 5, 2024)]
    jobs, pipes = _metas(url, "data_ingestion_jobs"), _metas(url, "pipelines")
    # The rest of meta stays JSON, untouched.
    assert jobs["1"] == {"config": {"only_stale": True}}
    assert jobs["2"] == {"config": {"position": [1, 2]}, "recalculation": {"entries": 3}}
    assert jobs["5"] == {"config": {"rerun_of": 2}}
    assert pipes[p1] == {} and pipes[p2] == {"aborted_by": "ops"}

    # Downgrade puts the keys back where 0008 read them (a dropped dangling link stays gone).
    migrate.downgrade(url, "0008")
    jobs, pipes = _metas(url, "data_ingestion_jobs"), _metas(url, "pipelines")
    assert jobs == {**before[0], "4": {"config": {}}}
    assert pipes == {p1: before[1][p1], p2: {"aborted_by": "ops"}}
    migrate.upgrade(url)
    assert len(_rows(url, "SELECT * FROM job_links")) == 3


def test_the_api_shows_the_moved_keys_in_meta_as_before(url: str) -> None:
    from sqlalchemy.orm import Session

    from carbon_domain.services.reads.queries import get_job

    migrate.upgrade(url, "0008")
    _seed(url)
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s:
        root, recalc = get_job(s, 1), get_job(s, 2)
    engine.dispose()
    assert root is not None and recalc is not None
    assert root.meta["config"] == {"only_stale": True, "job_ids": [2, 3],
                                   "joined_job_ids": [4]}
    assert [c.id for c in root.children] == [2, 3]
    assert recalc.meta["covers_input_job_id"] == 9 and recalc.meta["rerun_job_id"] == 5
