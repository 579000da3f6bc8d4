"""Pipeline guarantees (issue 4): staleness cases, dedup under concurrency, coalesced
aggregation, bad entries, the outbox, idempotent chunks, abort, factor/recalc exclusion."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from carbon_domain.db import locks
from carbon_domain.db.enums import IngestionMethod, JobResult, JobType, TargetType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Pipeline
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs as job_service
from carbon_domain.services.jobs import pipelines
from carbon_domain.services.reads.status import year_status
from carbon_tasks import operations as ops

from .api_support import insert_entry
from .helpers import UNITS_CSV, emissions, jobs_of, module_stats, wait_pipeline

pytestmark = pytest.mark.integration
YEAR = 2025

EQUIP_FACTORS = (
    "equipment_category,equipment_class,sub_class,active_power_w,standby_power_w,"
    "ef_kg_co2eq_per_kwh\n"
    "scientific,Spectrometers,,200,20,{ef}\n"
    "it,Laptop,Standard,100,10,{ef}\n"
    "other,Lab Freezer,,300,300,{ef}\n"
)


def equip_entries(n: int, det_name: str, cls: str, sub: str = "") -> str:
    head = ("unit_institutional_id,equipment_category,equipment_id,name,equipment_class,"
            "sub_class,active_usage_hours_per_week,standby_usage_hours_per_week\n")
    return head + "".join(f"{'UA' if i % 2 else 'UB'},{det_name},E{i},Item {i},{cls},{sub},40,128\n"
                          for i in range(n))


def upload(kind: str, body: str, expect: str = "SUCCESS", **kw) -> str:  # type: ignore[no-untyped-def]
    acc = ops.start_upload(kind, body.encode(), created_by="test", **kw)
    p = wait_pipeline(acc.pipeline_id)
    assert p.status == expect, [(j.job_type, j.result, j.status_message)
                                for j in jobs_of(acc.pipeline_id)]
    return acc.pipeline_id


def status_of(module: int, det: int) -> dict | None:  # type: ignore[type-arg]
    with session_scope() as s:
        for m in map(asdict, year_status(s, YEAR)):
            if m["module_type_id"] == module:
                for t in m["data_entry_types"]:
                    if t["data_entry_type_id"] == det:
                        return t
    return None


@pytest.fixture
def equipment_year(db, worker):  # type: ignore[no-untyped-def]
    upload("units", UNITS_CSV, year=YEAR)
    upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=4, year=YEAR)
    for det, name, cls, sub in ((10, "scientific", "Spectrometers", ""),
                                (11, "it", "Laptop", "Standard"),
                                (12, "other", "Lab Freezer", "")):
        upload("data-entries", equip_entries(120, name, cls, sub), module=4, det=det, year=YEAR)
    return YEAR


class TestStaleness:
    def test_no_factor_jobs_gives_an_empty_list(self, db) -> None:  # type: ignore[no-untyped-def]
        with session_scope() as s:
            assert year_status(s, YEAR) == []

    def test_factor_then_recalc_then_factor(self, equipment_year) -> None:  # type: ignore[no-untyped-def]
        # The data uploads recalculated every type after the factors: all fresh.
        assert not status_of(4, 11)["needs_recalculation"]
        upload("factors", EQUIP_FACTORS.format(ef="0.2"), module=4, year=YEAR)
        # A module-level factor upload makes every type of the module stale.
        for det in (10, 11, 12):
            assert status_of(4, det)["needs_recalculation"], det
        acc = ops.trigger_recalculation(module=4, det=11, year=YEAR, created_by="t")
        assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
        assert not status_of(4, 11)["needs_recalculation"]
        assert status_of(4, 10)["needs_recalculation"]

    def test_error_factor_job_is_ignored(self, equipment_year) -> None:  # type: ignore[no-untyped-def]
        before = status_of(4, 11)
        bad = "equipment_category,equipment_class,sub_class,active_power_w,ef_kg_co2eq_per_kwh\n" \
              "it,Laptop,Standard,-5,0.1\n"
        upload("factors", bad, expect="FAILED", module=4, year=YEAR)
        assert status_of(4, 11) == before

    def test_failed_recalculation_leaves_the_type_stale_and_running_is_in_progress(
            self, equipment_year) -> None:  # type: ignore[no-untyped-def]
        upload("factors", EQUIP_FACTORS.format(ef="0.3"), module=4, det=11, year=YEAR)
        with session_scope() as s:
            job = job_service.create_job(
                s, pipeline_id=None, job_type=JobType.emission_recalc,
                target_type=TargetType.DATA_ENTRIES, ingestion_method=IngestionMethod.computed,
                module_type_id=4, data_entry_type_id=11, year=YEAR)
            job_id = job.id
            assert job_service.claim(s, job_id, "t1") == 1
        assert status_of(4, 11)["recalculation_in_progress"]
        with session_scope() as s:
            job_service.finish(s, job_id, 1, JobResult.ERROR, "boom")
        st = status_of(4, 11)
        assert st["needs_recalculation"] and not st["recalculation_in_progress"]
        assert st["last_recalculation_job_result"] == "ERROR"


def _hold_module_lock(module: int, release: threading.Event, held: threading.Event) -> None:
    from carbon_domain.settings import get_settings
    engine = create_engine(get_settings().database_url)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"),
                     {"a": locks.FACTORS_VS_RECALC, "b": locks.module_year_key(module, YEAR)})
        held.set()
        release.wait(60)
    engine.dispose()


class TestConcurrency:
    def test_20_concurrent_identical_triggers_start_one_job(self, equipment_year) -> None:  # type: ignore[no-untyped-def]
        release, held = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_module_lock, args=(4, release, held))
        holder.start()
        held.wait(10)
        try:
            with ThreadPoolExecutor(20) as pool:
                results = list(pool.map(lambda _: ops.trigger_recalculation(
                    module=4, det=11, year=YEAR, created_by="flood"), range(20)))
        finally:
            release.set()
            holder.join()
        assert len({r.job_id for r in results}) == 1
        wait_pipeline(results[0].pipeline_id)
        with session_scope() as s:
            n = s.scalar(select(func.count()).select_from(Job).where(
                Job.job_type == "emission_recalc", Job.created_by == "flood"))
        assert n == 1

    def test_recalculating_5_types_gives_one_aggregation(self, db, worker) -> None:  # type: ignore[no-untyped-def]
        upload("units", UNITS_CSV, year=YEAR)
        # One purchase entry (without a factor): a year with something to recalculate.
        insert_entry(YEAR, det=60, module=5, data={
            "total_spent_amount": 100.0, "purchase_institutional_code": "P-1"})
        acc = ops.trigger_module_recalculation(module=5, year=YEAR, only_stale=False,
                                               created_by="t")
        assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
        js = jobs_of(acc.pipeline_id)
        assert sum(j.job_type == "emission_recalc" for j in js) == 8
        aggs = [j for j in js if j.job_type == "aggregation"]
        assert len(aggs) == 1
        assert aggs[0].meta["aggregation"]["runs"] <= 2


class TestFaultsWithinThePipeline:
    def test_one_broken_entry_gives_warning_and_the_rest_is_correct(self, equipment_year) -> None:  # type: ignore[no-untyped-def]
        with session_scope() as s:
            s.execute(text(
                "UPDATE data_entries SET data = jsonb_set(data, '{active_usage_hours_per_week}',"
                " '\"lots\"') WHERE id = (SELECT min(id) FROM data_entries WHERE"
                " data_entry_type_id = 11)"))
        acc = ops.trigger_recalculation(module=4, det=11, year=YEAR, created_by="t")
        p = wait_pipeline(acc.pipeline_id)
        js = {j.job_type: j for j in jobs_of(acc.pipeline_id)}
        rec = js["emission_recalc"]
        assert rec.result == "WARNING"
        assert rec.meta["recalculation"]["errors"] == 1
        assert rec.meta["recalculation"]["error_details"][0]["reason"]
        assert js["aggregation"].result == "SUCCESS"
        assert p.status == "SUCCESS"
        assert len(emissions(11)) == 119
        assert all(r[3] == pytest.approx(27.456) for r in emissions(11))
        stats = module_stats("LAB-A", 4, YEAR)
        assert stats["missing_factors"] + stats["entry_count"] > 0

    def test_committed_but_undispatched_job_is_run_by_the_reconciler(self, equipment_year) -> None:  # type: ignore[no-untyped-def]
        from carbon_tasks.reconcile import reconcile

        with session_scope() as s:
            p = pipelines.create_pipeline(s, kind="emission_recalc", module_type_id=4,
                                            year=YEAR, created_by="outbox")
            req = job_service.request_recalc(s, pipeline_id=p.id, module_type_id=4,
                                             data_entry_type_id=12, year=YEAR, created_by="outbox")
            pid = str(p.id)
        # Nothing was sent to the broker: only the reconciler can find it.
        summary = reconcile.delay().get(timeout=30)
        assert summary["outbox"] >= 1
        assert wait_pipeline(pid).status == "SUCCESS"
        assert [j.result for j in jobs_of(pid)] == ["SUCCESS", "SUCCESS"]
        assert req.created

    def test_a_chunk_delivered_twice_leaves_exactly_the_right_rows(self, equipment_year) -> None:  # type: ignore[no-untyped-def]
        from carbon_domain.services.recalc import recalc_finish

        before = emissions(10)
        job_id, planned = _plan_scientific_by_hand()
        _run_chunks(job_id, planned, times=2)  # every chunk twice, as a redelivery would
        with session_scope() as s:
            recalc_finish.complete_recalculation(s, [(job_id, planned.attempt)], None)
        after = emissions(10)
        assert len(after) == 120
        assert [r[:4] for r in after] == [r[:4] for r in before]

    def test_a_chord_lost_after_every_chunk_says_so(self, equipment_year) -> None:  # type: ignore[no-untyped-def]
        """The chord's error path (``recalculation_failed``) when every chunk completed: a
        chunk's result could not be stored, or the worker holding the chord was lost. It
        said "ERROR: 0 of 2 chunks of … did not complete", which reads as nothing wrong."""
        from carbon_domain.services.recalc import recalc_finish

        before = emissions(10)
        job_id, planned = _plan_scientific_by_hand()
        _run_chunks(job_id, planned)
        with session_scope() as s:
            recalc_finish.complete_recalculation(s, [(job_id, planned.attempt)], None,
                                                 lost=True)
        with session_scope() as s:
            job = s.get(Job, job_id)
            assert job is not None and job.result == JobResult.ERROR
            n = len(planned.chunk_nos)
            assert job.status_message == (
                f"ERROR: all {n} chunks of scientific completed, but the chord collecting"
                " them failed (worker lost or a chunk's result not stored); the type stays"
                " stale"), job.status_message
        # A full recalculation's stage is dropped: the live rows are the ones before.
        assert emissions(10) == before

    def test_abort_mid_pipeline(self, equipment_year) -> None:  # type: ignore[no-untyped-def]
        from carbon_tasks.app import app

        release, held = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_module_lock, args=(4, release, held))
        holder.start()
        held.wait(10)
        try:
            acc = ops.trigger_module_recalculation(module=4, year=YEAR, only_stale=False,
                                                   created_by="t")
            deadline = time.monotonic() + 20
            while not any(j.state == "RUNNING" and j.job_type == "emission_recalc"
                          for j in jobs_of(acc.pipeline_id)):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            out = ops.abort_pipeline(acc.pipeline_id, "tester")
            assert out["aborted_job_ids"]
        finally:
            release.set()
            holder.join()
        time.sleep(1.0)
        p = wait_pipeline(acc.pipeline_id)
        assert p.status == "ABORTED"
        js = jobs_of(acc.pipeline_id)
        assert all(j.state == "FINISHED" for j in js)
        assert all(j.result == "ERROR" and j.meta.get("aborted") for j in js)
        active = app.control.inspect(timeout=1.0).active() or {}
        assert not any(t["name"] == "carbon.recalculate_chunk"
                       for ts in active.values() for t in ts)

    def test_recalculation_never_reads_a_half_written_factor_set(self, equipment_year) -> None:  # type: ignore[no-untyped-def]
        from carbon_domain.settings import get_settings

        engine = create_engine(get_settings().database_url)
        started = threading.Event()

        def slow_factor_write() -> None:
            # The factor writer's protocol: exclusive module/year lock, then the writes.
            with engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"),
                             {"a": locks.FACTORS_VS_RECALC, "b": locks.module_year_key(4, YEAR)})
                conn.execute(text("UPDATE factors SET values = jsonb_set(values,"
                                  " '{ef_kg_co2eq_per_kwh}', '0.5') WHERE data_entry_type_id = 11"))
                started.set()
                time.sleep(1.5)  # half-written: nothing else updated yet
                conn.execute(text("UPDATE factors SET values = jsonb_set(values,"
                                  " '{active_power_w}', '200'), updated_at = now()"
                                  " WHERE data_entry_type_id = 11"))

        writer = threading.Thread(target=slow_factor_write)
        writer.start()
        started.wait(10)
        acc = ops.trigger_recalculation(module=4, det=11, year=YEAR, created_by="t")
        writer.join()
        assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
        engine.dispose()
        # Both halves applied: (40 h × 200 W + 128 h × 10 W) × 52 / 1000 × 0.5
        expected = (40 * 200 + 128 * 10) * 52 / 1000 * 0.5
        kgs = {round(r[3], 6) for r in emissions(11)}
        assert kgs == {round(expected, 6)}


def test_an_upload_that_joins_a_running_recalculation_waits_for_its_rerun(equipment_year) -> None:  # type: ignore[no-untyped-def]
    """No lost update: the running job already read its inputs, so it is marked dirty and
    runs once more; the joining pipeline stays RUNNING until that rerun is done."""
    from carbon_domain.services.recalc import recalc_finish, recalc_plan
    from carbon_tasks.dispatch import dispatch_jobs
    from carbon_tasks.recalc import recalculate_chunk

    with session_scope() as s:
        p1 = pipelines.create_pipeline(s, kind="emission_recalc", module_type_id=4,
                                         year=YEAR, created_by="p1")
        req = job_service.request_recalc(s, pipeline_id=p1.id, module_type_id=4,
                                         data_entry_type_id=12, year=YEAR, created_by="p1")
    with session_scope() as s:
        (planned,) = recalc_plan.plan_jobs(s, [req.job_id], "manual")  # RUNNING, inputs read
    acc = ops.start_upload("data-entries", equip_entries(30, "other", "Lab Freezer").encode(),
                           module=4, det=12, year=YEAR, created_by="p2")
    deadline = time.monotonic() + 30
    while jobs_of(acc.pipeline_id)[0].state != "FINISHED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with session_scope() as s:
        assert s.get(Job, req.job_id).dirty
    with session_scope() as s:
        assert s.get(Pipeline, uuid.UUID(acc.pipeline_id)).status == "RUNNING"
    for n in planned.chunk_nos:
        recalculate_chunk.apply(kwargs={"job_id": req.job_id, "attempt": planned.attempt,
                                        "chunk_no": n}).get()
    with session_scope() as s:
        to_dispatch = recalc_finish.complete_recalculation(s, [(req.job_id, planned.attempt)], None)
    # Only the rerun: while it is active the trailing aggregation waits for it (one
    # aggregation per (module, year), requested by the last recalculation to finish).
    assert len(to_dispatch) == 1
    with session_scope() as s:
        assert s.get(Job, to_dispatch[0]).job_type == "emission_recalc"
    dispatch_jobs(to_dispatch)
    assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    rows = emissions(12)
    assert len(rows) == 30  # exactly the new upload's entries, all recalculated
    with session_scope() as s:
        first = s.get(Job, req.job_id)
        assert first.rerun_job_id and not first.dirty
    # The rerun, the last recalculation of (equipment, YEAR) to finish, requested the one
    # trailing aggregation.
    assert wait_pipeline(str(p1.id)).status == "SUCCESS"
    with session_scope() as s:
        aggs = list(s.scalars(select(Job).where(Job.job_type == "aggregation",
                                                Job.id > to_dispatch[0])))
        assert [(a.state, a.result, a.pipeline_id) for a in aggs] == [
            ("FINISHED", "SUCCESS", p1.id)]


def _plan_scientific_by_hand() -> tuple[int, Any]:
    """A recalculation of the equipment module's scientific type, requested and planned here
    (no broker): its job id and its plan."""
    from carbon_domain.services.recalc import recalc_plan

    with session_scope() as s:
        req = job_service.request_recalc(s, pipeline_id=None, module_type_id=4,
                                         data_entry_type_id=10, year=YEAR, created_by="t")
    with session_scope() as s:
        (planned,) = recalc_plan.plan_jobs(s, [req.job_id], "manual")
    return req.job_id, planned


def _run_chunks(job_id: int, planned: Any, times: int = 1) -> None:
    """Every chunk of the plan, ``times`` times each, in this process."""
    from carbon_tasks.recalc import recalculate_chunk

    for n in planned.chunk_nos:
        for _ in range(times):
            recalculate_chunk.apply(kwargs={"job_id": job_id, "attempt": planned.attempt,
                                            "chunk_no": n}).get()
