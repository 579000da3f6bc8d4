"""An aggregation aborted before it wrote is backfilled by the reconciler.

An operator aborted a factor upload's pipeline while its aggregations waited for the year's
lock: the rows were rewritten, the module statistics never were, and every surface kept
saying "up to date" with totals that no longer summed the rows (equipment: stats
1,262,149.265 kg, rows 1,262,435.233 kg). The reconciler, whose job is to backfill missing
aggregations, counted the aborted (ERROR) aggregation as done and backfilled nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from carbon_domain.db import locks
from carbon_domain.settings import get_settings
from carbon_tasks import operations as ops
from carbon_tasks.reconcile import reconcile
from tests.console.support import EQUIPMENT, F_HEADER, IT, YEAR, seed_equipment

from .helpers import jobs_of, stats_and_rows_kg, wait_pipeline

pytestmark = pytest.mark.integration


def _totals() -> tuple[float, float]:
    """Equipment's total kg for YEAR: from its statistics, and from its emission rows."""
    return stats_and_rows_kg(YEAR, EQUIPMENT, (IT,))


def _aggregations(pipeline_id: str) -> list[Any]:
    return [j for j in jobs_of(pipeline_id) if j.job_type == "aggregation"]


def test_an_aborted_aggregation_is_backfilled_by_the_reconciler(db: str, worker: Any) -> None:
    seed_equipment(entries_per_type=30, types=(IT,))
    before = _totals()
    assert before[0] == before[1] and before[0] > 0
    engine = create_engine(get_settings().database_url, poolclass=NullPool)
    with engine.connect() as hold:
        hold.begin()
        hold.execute(text("SELECT pg_advisory_xact_lock(:n, :k)"),
                     {"n": locks.AGGREGATION_YEAR, "k": YEAR})
        acc = ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.7\n").encode(),
                               module=EQUIPMENT, det=IT, year=YEAR, recalculate=True,
                               created_by="alice")
        deadline = time.monotonic() + 60
        while not any(j.state == "RUNNING" for j in _aggregations(acc.pipeline_id)):
            assert time.monotonic() < deadline, "the aggregation never started"
            time.sleep(0.1)
        ops.abort_pipeline(acc.pipeline_id, "alice")
        hold.rollback()
    assert wait_pipeline(acc.pipeline_id).status == "ABORTED"
    deadline = time.monotonic() + 30
    while any(j.state != "FINISHED" for j in jobs_of(acc.pipeline_id)):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stats, rows = _totals()
    assert rows != before[1], "the recalculation rewrote the rows"
    assert stats == before[0], "the aborted aggregation wrote nothing"

    out = reconcile.apply().get()
    assert out["aggregations_backfilled"] == 1, out
    deadline = time.monotonic() + 30
    while _totals()[0] != rows:
        assert time.monotonic() < deadline, (_totals(), out)
        time.sleep(0.1)
    # Settled: nothing more to backfill.
    assert reconcile.apply().get()["aggregations_backfilled"] == 0
