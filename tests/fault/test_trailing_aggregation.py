"""One trailing aggregation per (module, year) (issue 11 item 4), with worker subprocesses.

* Five per-type recalculations of one module (five purchase types), triggered at once from
  five threads, finishing one after the other (each held mid-write until the previous one
  finished, long enough for an aggregation to run in between): exactly one aggregation,
  requested by the last one to finish, and every one of the five pipelines waits for it.
  It used to be one aggregation per finisher that found none active (five here).
* Eight module triggers of one year (one per module): eight aggregations, one per module.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from carbon_domain.catalog import ModuleType
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs.pipelines import pipeline_jobs
from carbon_tasks import operations as ops
from tests.fault import harness
from tests.fault.harness import YEAR, EntryLock, sql, wait_for
from tests.integration.helpers import UNITS_CSV, wait_pipeline

pytestmark = [pytest.mark.fault, pytest.mark.integration]

PURCHASE = int(ModuleType.purchase)
DETS = (60, 61, 62, 63, 64)
RATES = "year,currency,rate_to_eur\n2025,chf,1.05\n2025,usd,0.9\n"
FACTORS = ("purchase_institutional_code,purchase_additional_code,ef_kg_co2eq_per_currency,"
           "currency\n12000000,,0.4,eur\n43000000,,0.42,chf\n")
N = 300  # entries per type: 2 chunks of 200


def purchases(n: int) -> str:
    head = ("unit_institutional_id,name,supplier,total_spent_amount,currency,"
            "purchase_institutional_code\n")
    return head + "".join(f"{'UA' if i % 2 else 'UB'},Item {i},ACME,{100 + i},"
                          f"{'chf' if i % 3 else 'eur'},{'12000000' if i % 2 else '43000000'}\n"
                          for i in range(n))


def load_purchases() -> None:
    harness.upload("units", UNITS_CSV, year=YEAR)
    harness.upload("exchange-rates", RATES)
    for det in DETS:
        harness.upload("factors", FACTORS, module=PURCHASE, det=det, year=YEAR)
        harness.upload("data-entries", purchases(N), module=PURCHASE, det=det, year=YEAR)


def first_entry(det: int) -> int:
    return int(sql("SELECT min(id) FROM data_entries WHERE data_entry_type_id = :d AND"
                   " year = :y", d=det, y=YEAR)[0][0])


def aggregations_after(before: int) -> list[tuple]:  # type: ignore[type-arg]
    return [j for j in harness.jobs_after(before) if j[1] == "aggregation"]


def test_five_type_triggers_of_one_module_give_one_aggregation(procs, figures) -> None:  # type: ignore[no-untyped-def]
    # 4 held chunks each block a pool process: leave room for the rest of the work.
    procs.worker(concurrency=6)
    load_purchases()
    baseline = harness.snapshot((PURCHASE,))
    harness.wipe_results()
    before = harness.max_job_id()
    locks = [EntryLock(first_entry(d)) for d in DETS[1:]]
    for lock in locks:
        lock.__enter__()
    try:
        barrier = threading.Barrier(len(DETS))

        def fire(det: int) -> ops.Accepted:
            barrier.wait(30)
            return ops.trigger_recalculation(module=PURCHASE, det=det, year=YEAR,
                                             created_by="five")

        with ThreadPoolExecutor(len(DETS)) as pool:
            accepted = list(pool.map(fire, DETS))
        assert len({a.pipeline_id for a in accepted}) == 5
        # Release the held types one by one, each after the previous one finished and had
        # every chance to start (and finish) an aggregation of its own.
        for i, det in enumerate(DETS):
            wait_for(lambda d=det: sql(
                "SELECT state FROM data_ingestion_jobs WHERE id > :b AND data_entry_type_id = :d",
                b=before, d=d) == [("FINISHED",)], 60, f"type {det} to finish", interval=0.1,
                on_fail=harness.describe_jobs)
            time.sleep(1.0)
            wait_for(lambda: not [a for a in aggregations_after(before)
                                  if a[4] != "FINISHED"], 30, "aggregations to settle")
            if i < len(locks):
                assert [a[0] for a in aggregations_after(before)] == [], harness.describe_jobs()
                locks[i].release()
    finally:
        for lock in locks:
            lock.release()
    ps = [wait_pipeline(a.pipeline_id, timeout=60) for a in accepted]
    assert [p.status for p in ps] == ["SUCCESS"] * 5, harness.describe_jobs()
    aggs = aggregations_after(before)
    assert len(aggs) == 1, harness.describe_jobs()
    (agg,) = aggs
    assert (agg[4], agg[5], agg[6]["aggregation"]["runs"]) == ("FINISHED", "SUCCESS", 1)
    # Every pipeline waited for the one trailing aggregation (its stream ends after it).
    with session_scope() as s:
        for a in accepted:
            assert agg[0] in {j.id for j in pipeline_jobs(s, a.pipeline_id)}
    assert harness.active_jobs() == []
    out = harness.assert_same_results(baseline, (PURCHASE,))
    assert harness.stats_of((PURCHASE,)) == harness.fresh_stats((PURCHASE,))
    figures(injected="5 purchase type triggers through a barrier, finishing one by one"
                     " (each held mid-write until the previous one finished + 1 s)",
            checked="1 aggregation job, 1 run, linked to all 5 pipelines (all SUCCESS)",
            result=f"{out['rows']} rows exact; stats equal a fresh recomputation")


def test_eight_module_triggers_of_one_year_give_eight_aggregations(procs, figures) -> None:  # type: ignore[no-untyped-def]
    procs.worker(concurrency=2)
    load_purchases()
    harness.upload_equipment(n=400)
    before = harness.max_job_id()
    modules = [int(m) for m in ModuleType]
    barrier = threading.Barrier(len(modules))

    def fire(m: int) -> ops.Accepted:
        barrier.wait(30)
        return ops.trigger_module_recalculation(module=m, year=YEAR, only_stale=False,
                                                created_by="eight")

    with ThreadPoolExecutor(len(modules)) as pool:
        accepted = list(pool.map(fire, modules))
    ps = [wait_pipeline(a.pipeline_id, timeout=120) for a in accepted]
    assert [p.status for p in ps] == ["SUCCESS"] * 8, harness.describe_jobs()
    aggs = aggregations_after(before)
    assert sorted(a[2] for a in aggs) == modules, harness.describe_jobs()
    assert all(a[6]["aggregation"]["runs"] == 1 for a in aggs)
    assert harness.active_jobs() == []
    figures(injected="8 module triggers (one per module) of one year through a barrier",
            checked="8 aggregation jobs, one per module, 1 run each; 8 pipelines SUCCESS")
