"""The reconciler backfills an aggregation only when one is needed.

Reported: a recalculation finished while an earlier aggregation of its (module, year) was
still queued; its request joined that aggregation (one active per (module, year)), which
then ran after it and read its rows. Even so, the next ``carbon reconcile`` backfilled
another aggregation: ``due_aggregations`` took "the last good aggregation's id is lower
than the last good recalculation's" as "the statistics are older than the rows", and a
queued aggregation that a later recalculation joins keeps its lower id.

Needed means: the last aggregation that wrote statistics (FINISHED, not ERROR) did not read
the rows of some good recalculation, and no recalculation or aggregation of the (module,
year) is active. The aggregation records which recalculations it read
(``meta.aggregation.read``); these tests check both directions with a real worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from carbon_domain import task_names as tn
from carbon_domain.db import locks
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_domain.settings import get_settings
from carbon_tasks import operations as ops
from carbon_tasks.reconcile import reconcile
from tests.console.support import (
    EQUIPMENT,
    F_HEADER,
    IT,
    SCIENTIFIC,
    YEAR,
    EntryLock,
    last_entry_id,
    run,
    seed_equipment,
)
from tests.integration.helpers import stats_and_rows_kg

pytestmark = pytest.mark.integration


@contextmanager
def aggregations_held() -> Iterator[None]:
    """The suite's worker stops taking aggregations (their messages wait in the
    ``aggregate`` queue, their rows stay QUEUED); everything else runs."""
    from celery.utils.nodenames import anon_nodename

    from carbon_tasks.app import app

    mine = anon_nodename()
    names = [n for reply in (app.control.ping(timeout=1.0) or []) for n in reply if n == mine]
    assert names, "the suite's worker does not answer"
    app.control.cancel_consumer(tn.AGGREGATE, destination=names, reply=True, timeout=2)
    try:
        yield
    finally:
        app.control.add_consumer(tn.AGGREGATE, destination=names, reply=True, timeout=2)


def _jobs(job_type: str) -> list[Job]:
    with session_scope() as s:
        return list(s.scalars(select(Job).where(Job.job_type == job_type,
                                                Job.module_type_id == EQUIPMENT,
                                                Job.year == YEAR).order_by(Job.id)))


def _wait(cond: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _totals() -> tuple[float, float]:
    """Equipment's total kg for YEAR: from its statistics, and from its emission rows."""
    return stats_and_rows_kg(YEAR, EQUIPMENT, (SCIENTIFIC, IT))


def _idle() -> None:
    _wait(lambda: all(j.state == "FINISHED" for j in _jobs("emission_recalc")
                      + _jobs("aggregation")), "jobs still active")


def _factors(det: int, ef: str) -> ops.Accepted:
    line = {SCIENTIFIC: f"Centrifuge,,500,50,{ef}\n", IT: f"Laptop,Standard,100,10,{ef}\n"}
    return ops.start_upload("factors", (F_HEADER + line[det]).encode(), module=EQUIPMENT,
                            det=det, year=YEAR, recalculate=True, created_by="alice")


def test_a_recalculation_joining_a_queued_aggregation_needs_no_backfill(
        db: str, worker: Any) -> None:
    seed_equipment(entries_per_type=30, types=(SCIENTIFIC, IT))
    _idle()
    assert reconcile.apply().get()["aggregations_backfilled"] == 0
    before = len(_jobs("aggregation"))
    with aggregations_held():
        first = _factors(IT, "0.2")
        _wait(lambda: len(_jobs("aggregation")) == before + 1
              and _jobs("aggregation")[-1].state == "QUEUED", "no queued aggregation")
        queued = _jobs("aggregation")[-1]
        second = _factors(SCIENTIFIC, "0.3")
        _wait(lambda: _jobs("emission_recalc")[-1].id > queued.id
              and _jobs("emission_recalc")[-1].state == "FINISHED",
              "the second recalculation did not finish")
        assert len(_jobs("aggregation")) == before + 1, "the second joined the queued one"
    assert run(first) == "SUCCESS" and run(second) == "SUCCESS"
    _idle()
    aggs = _jobs("aggregation")
    assert len(aggs) == before + 1 and aggs[-1].result == "SUCCESS"
    stats, rows = _totals()
    assert stats == rows, "the queued aggregation ran after both recalculations"

    out = reconcile.apply().get()
    assert out["aggregations_backfilled"] == 0, out
    assert len(_jobs("aggregation")) == before + 1


def test_a_recalculation_that_lands_after_the_aggregation_read_is_backfilled(
        db: str, worker: Any) -> None:
    """The needed direction. A queued aggregation runs while one recalculation (SCIENTIFIC)
    is still running and a later one (IT, a higher id) has finished: it reads IT's rows,
    not SCIENTIFIC's. SCIENTIFIC then finishes and requests its own trailing aggregation,
    which is lost (aborted before it wrote). The statistics miss SCIENTIFIC's rows even
    though the aggregation that wrote them read a recalculation with a higher id than
    SCIENTIFIC's: the reconciler must backfill one."""
    seed_equipment(entries_per_type=30, types=(SCIENTIFIC, IT))
    _idle()
    with aggregations_held():
        assert _factors(IT, "0.2")
        _wait(lambda: _jobs("aggregation")[-1].state == "QUEUED", "no queued aggregation")
        queued = _jobs("aggregation")[-1]
        entry = EntryLock(last_entry_id(SCIENTIFIC))
        entry.__enter__()
        try:
            slow = _factors(SCIENTIFIC, "0.5")
            _wait(lambda: any(j.data_entry_type_id == SCIENTIFIC and j.state == "RUNNING"
                              and j.id > queued.id for j in _jobs("emission_recalc")),
                  "SCIENTIFIC never started")
            later = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR,
                                              created_by="alice")
            _wait(lambda: _jobs("emission_recalc")[-1].state == "FINISHED",
                  "the IT recalculation did not finish")
            assert _jobs("emission_recalc")[-1].id == later.job_id
        except BaseException:
            entry.release()
            raise
    try:
        _wait(lambda: _jobs("aggregation")[-1].state == "FINISHED",
              "the queued aggregation did not run")
        agg = _jobs("aggregation")[-1]
        assert agg.id == queued.id and agg.result == "SUCCESS"
        running = [j.id for j in _jobs("emission_recalc") if j.state != "FINISHED"]
        assert agg.meta["aggregation"]["read"] == {"upto": later.job_id,
                                                   "pending": running}
    finally:
        # SCIENTIFIC finishes; its trailing aggregation waits for the year's lock and is
        # aborted there (it writes nothing).
        engine = create_engine(get_settings().database_url, poolclass=NullPool)
        with engine.connect() as hold:
            hold.begin()
            hold.execute(text("SELECT pg_advisory_xact_lock(:n, :k)"),
                         {"n": locks.AGGREGATION_YEAR, "k": YEAR})
            entry.release()
            _wait(lambda: _jobs("aggregation")[-1].id > queued.id
                  and _jobs("aggregation")[-1].state == "RUNNING",
                  "SCIENTIFIC's aggregation never started")
            ops.abort_pipeline(slow.pipeline_id, "alice")
            hold.rollback()
    _idle()
    assert [a.result for a in _jobs("aggregation")][-2:] == ["SUCCESS", "ERROR"]
    stats, rows = _totals()
    assert stats != rows, "SCIENTIFIC's rows are not in the statistics"

    out = reconcile.apply().get()
    assert out["aggregations_backfilled"] == 1, out
    _wait(lambda: _totals()[0] == _totals()[1], "the backfilled aggregation did not run")
    assert reconcile.apply().get()["aggregations_backfilled"] == 0


def test_a_recalculation_joining_a_running_aggregation_needs_no_backfill(
        db: str, worker: Any) -> None:
    """A recalculation that finishes while the aggregation runs marks it dirty; its second
    run reads the new rows, so nothing is left to backfill (by ids, the aggregation's lower
    id asked for one more)."""
    seed_equipment(entries_per_type=30, types=(SCIENTIFIC, IT))
    _idle()
    before = len(_jobs("aggregation"))
    engine = create_engine(get_settings().database_url, poolclass=NullPool)
    with engine.connect() as hold:
        hold.begin()
        hold.execute(text("SELECT pg_advisory_xact_lock(:n, :k)"),
                     {"n": locks.AGGREGATION_YEAR, "k": YEAR})
        first = _factors(IT, "0.2")
        _wait(lambda: len(_jobs("aggregation")) == before + 1
              and _jobs("aggregation")[-1].state == "RUNNING", "the aggregation never started")
        second = _factors(SCIENTIFIC, "0.3")
        _wait(lambda: _jobs("emission_recalc")[-1].data_entry_type_id == SCIENTIFIC
              and _jobs("emission_recalc")[-1].state == "FINISHED",
              "the second recalculation did not finish")
        hold.rollback()
    assert run(first) == "SUCCESS" and run(second) == "SUCCESS"
    _idle()
    aggs = _jobs("aggregation")
    assert len(aggs) == before + 1 and aggs[-1].meta["aggregation"]["runs"] == 2
    assert _totals()[0] == _totals()[1]

    out = reconcile.apply().get()
    assert out["aggregations_backfilled"] == 0, out
