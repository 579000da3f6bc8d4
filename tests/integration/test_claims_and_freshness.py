"""Claim races on PostgreSQL (issue 11 item 8) and freshness stamps (item 5).

Claims: two claims released together by a barrier, each on its own connection, 50 times:
of the same job, and of two jobs of the same (module, type, year). Exactly one wins; the
loser changes nothing.

Freshness: an aggregation stamps ``stats.computed_at`` on every module it recomputed and on
their reports even when the numbers did not change (the dashboards' freshness signal).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text

from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import new_session, session_scope
from carbon_domain.services.jobs import jobs as job_service
from carbon_domain.services.jobs import pipelines
from carbon_tasks import operations as ops

from .helpers import jobs_of, wait_pipeline
from .test_pipeline_guarantees import equipment_year  # noqa: F401 - fixture

pytestmark = pytest.mark.integration
ROUNDS = 50


def _new_job(pipeline_id: Any) -> int:
    with session_scope() as s:
        return job_service.create_job(
            s, pipeline_id=pipeline_id, job_type=JobType.factor_ingest,
            target_type=TargetType.FACTORS, ingestion_method=IngestionMethod.csv,
            module_type_id=4, data_entry_type_id=11, year=2025, created_by="race").id


def _race(job_ids: tuple[int, int]) -> list[tuple[str, int | None]]:
    """Two claims at once, each on its own session (its own pooled connection)."""
    barrier = threading.Barrier(2)

    def claim(job_id: int) -> tuple[str, int | None]:
        s = new_session()
        try:
            s.execute(text("SELECT 1"))  # connection checked out before the barrier
            barrier.wait(10)
            try:
                attempt = job_service.claim(s, job_id, f"task-{job_id}-{threading.get_ident()}")
            except job_service.ClaimBusy:
                s.rollback()
                return "busy", None
            s.commit()
            return ("won" if attempt else "noop"), attempt
        finally:
            s.close()

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(claim, job_ids))


def _rows(ids: list[int]) -> list[tuple[Any, ...]]:
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(
            "SELECT id, state, is_current, attempts, celery_task_id FROM data_ingestion_jobs"
            " WHERE id = ANY(:i) ORDER BY id"), {"i": ids})]


def test_two_claims_of_the_same_job_one_wins(db) -> None:  # type: ignore[no-untyped-def]
    with session_scope() as s:
        pid = pipelines.create_pipeline(s, kind="factor_ingest", module_type_id=4,
                                          year=2025, created_by="race").id
    for _ in range(ROUNDS):
        job_id = _new_job(pid)
        outcomes = sorted(_race((job_id, job_id)))
        assert outcomes == [("noop", None), ("won", 1)], outcomes
        ((_, state, current, attempts, task),) = _rows([job_id])
        assert (state, current, attempts) == ("RUNNING", True, 1)
        with session_scope() as s:  # the winner finishes: the next round's job may run
            job_service.finish(s, job_id, 1, "SUCCESS", "done")


def test_two_jobs_of_one_scope_claimed_at_once_one_runs(db) -> None:  # type: ignore[no-untyped-def]
    with session_scope() as s:
        pid = pipelines.create_pipeline(s, kind="factor_ingest", module_type_id=4,
                                          year=2025, created_by="race").id
    for _ in range(ROUNDS):
        a, b = _new_job(pid), _new_job(pid)
        outcomes = _race((a, b))
        assert sorted(o[0] for o in outcomes) == ["busy", "won"], outcomes
        winner = (a, b)[[o[0] for o in outcomes].index("won")]
        loser = b if winner == a else a
        rows = {r[0]: r[1:] for r in _rows([a, b])}
        assert rows[winner][:3] == ("RUNNING", True, 1)
        # The loser is untouched: still waiting, not current, no attempt spent.
        assert rows[loser][:4] == ("NOT_STARTED", False, 0, None)
        with session_scope() as s:
            job_service.finish(s, winner, 1, "SUCCESS", "done")
            s.get(Job, loser).state = "FINISHED"


def _stamps(year: int, module: int) -> tuple[dict[int, Any], dict[int, Any]]:
    with session_scope() as s:
        mods = dict(s.execute(text(
            "SELECT m.id, m.stats_computed_at FROM carbon_report_modules m JOIN"
            " carbon_reports r ON r.id = m.carbon_report_id WHERE r.year = :y AND"
            " m.module_type_id = :m"), {"y": year, "m": module}).all())
        reports = dict(s.execute(text(
            "SELECT id, stats_computed_at FROM carbon_reports WHERE year = :y"),
            {"y": year}).all())
    return mods, reports


def _numbers(year: int) -> list[Any]:
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(
            "SELECT m.id, m.stats, r.stats FROM"
            " carbon_report_modules m JOIN carbon_reports r ON r.id = m.carbon_report_id"
            " WHERE r.year = :y ORDER BY m.id"), {"y": year})]


def test_an_unchanged_aggregation_still_stamps_computed_at(equipment_year) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    year = equipment_year
    mods0, reports0 = _stamps(year, 4)
    numbers0 = _numbers(year)
    assert mods0 and all(mods0.values()) and all(reports0.values())
    acc = ops.trigger_module_recalculation(module=4, year=year, only_stale=False,
                                           created_by="fresh")
    assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    (agg,) = [j for j in jobs_of(acc.pipeline_id) if j.job_type == "aggregation"]
    assert agg.meta["aggregation"]["last"]["modules_changed"] == 0  # same numbers
    mods1, reports1 = _stamps(year, 4)
    assert _numbers(year) == numbers0
    # The time is in the rows' column, never in their stored JSON (migration 0017).
    assert not [r for r in numbers0
                if "computed_at" in (r[1] or {}) or "computed_at" in (r[2] or {})]
    assert mods1.keys() == mods0.keys()
    assert all(mods1[m] > mods0[m] for m in mods0), (mods0, mods1)
    assert all(reports1[r] > reports0[r] for r in reports0), (reports0, reports1)
