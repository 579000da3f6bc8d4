"""Trigger floods (issue 8 item 4), from many threads of this process against real worker
subprocesses.

* 50 identical recalculation triggers released at once by a barrier, while the
  recalculation they all ask for is running (one of its chunks held mid-write): one job,
  one pipeline, one aggregation, no rerun.
* 200 triggers over the 8 modules (per type and per module, shuffled, 32 threads) while
  every aggregation of the year is held at its start (the year lock an aggregation takes):
  every recalculation completion of a module lands on that module's one active aggregation,
  so each module gets exactly one aggregation job with at most one dirty rerun, and the
  final statistics equal a fresh recomputation.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
from carbon_domain.db import locks
from carbon_tasks import operations as ops
from tests.fault import harness
from tests.fault.harness import YEAR, EntryLock, blocked_writers, prepare, sql, wait_for
from tests.integration.helpers import jobs_of, wait_pipeline

pytestmark = [pytest.mark.fault, pytest.mark.integration]

DET = 11
MODULES = [int(m) for m in ModuleType]


def max_job_id() -> int:
    return int(sql("SELECT coalesce(max(id), 0) FROM data_ingestion_jobs")[0][0])


def test_50_concurrent_identical_triggers_start_one_recalculation(procs, figures) -> None:  # type: ignore[no-untyped-def]
    n = 50
    w, baseline = prepare(procs, wipe=False)
    harness.wipe_results(det=DET)
    before = max_job_id()
    barrier = threading.Barrier(n)

    def fire(_: int) -> ops.Accepted:
        barrier.wait(30)
        return ops.trigger_recalculation(module=harness.EQUIPMENT, det=DET, year=YEAR,
                                         created_by="flood")

    # Chunk 1 is held mid-write: the recalculation is active for the whole flood, so every
    # trigger but the first meets it (queued or running).
    with EntryLock(harness.entry_in_chunk(DET, 1)):
        t0 = time.monotonic()
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(fire, range(n)))
        flood_seconds = time.monotonic() - t0
        wait_for(blocked_writers, 30, "the recalculation to be running")
    assert len(results) == n
    assert len({r.job_id for r in results}) == 1
    assert len({r.pipeline_id for r in results}) == 1
    seen = Counter(r.state for r in results)
    assert sum("already in progress" in r.message for r in results) == n - 1
    new_jobs = sql("SELECT id, job_type, data_entry_type_id, dirty, created_by FROM"
                   " data_ingestion_jobs WHERE id > :b ORDER BY id", b=before)
    recalcs = [j for j in new_jobs if j[1] == "emission_recalc"]
    assert len(recalcs) == 1 and recalcs[0][0] == results[0].job_id, new_jobs
    assert sql("SELECT count(*) FROM pipelines WHERE created_by = 'flood'")[0][0] == 1
    p = wait_pipeline(results[0].pipeline_id, timeout=60)
    assert p.status == "SUCCESS"
    js = jobs_of(results[0].pipeline_id)
    assert [(j.job_type, j.state, j.result, j.attempts, j.dirty) for j in js] == [
        ("emission_recalc", "FINISHED", "SUCCESS", 1, False),
        ("aggregation", "FINISHED", "SUCCESS", 1, False),
    ], harness.describe_jobs()
    assert js[0].rerun_job_id is None
    assert js[1].meta["aggregation"]["runs"] == 1
    assert harness.active_jobs() == []
    out = harness.assert_same_results(baseline)
    figures(injected=f"{n} threads calling trigger_recalculation(equipment, it, {YEAR}) at"
                     f" once ({flood_seconds:.2f}s) while that recalculation was running",
            checked=f"1 recalculation job, 1 pipeline, {n - 1} 'already in progress' answers"
                    f" (job states seen: {dict(seen)}), no rerun, 1 aggregation with 1 run",
            result=f"{out['rows']} rows exact; stats exact")


def flood_plan(seed: int = 8) -> list[tuple[str, int, int | None]]:
    """200 triggers: per module 5 module-level and 20 per-type ones, shuffled."""
    calls: list[tuple[str, int, int | None]] = []
    for m in MODULES:
        dets = [int(d) for d in MODULE_DATA_ENTRY_TYPES[ModuleType(m)]]
        calls += [("module", m, None)] * 5
        calls += [("type", m, dets[i % len(dets)]) for i in range(20)]
    random.Random(seed).shuffle(calls)
    assert len(calls) == 200
    return calls


def fire(call: tuple[str, int, int | None]) -> ops.Accepted:
    kind, module, det = call
    if kind == "module":
        return ops.trigger_module_recalculation(module=module, year=YEAR, only_stale=False,
                                                created_by="flood")
    assert det is not None
    return ops.trigger_recalculation(module=module, det=det, year=YEAR, created_by="flood")


class AggregationSampler:
    """Polls the job table: the most aggregations of one (module, year) active at once."""

    def __init__(self) -> None:
        self.max_active: dict[int, int] = defaultdict(int)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            for module, n in sql("SELECT module_type_id, count(*) FROM data_ingestion_jobs"
                                 " WHERE job_type = 'aggregation' AND state IN ('NOT_STARTED',"
                                 " 'QUEUED', 'RUNNING') GROUP BY 1"):
                self.max_active[int(module)] = max(self.max_active[int(module)], int(n))
            self.stop.wait(0.02)

    def __enter__(self) -> AggregationSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(10)


def test_200_triggers_over_8_modules_give_one_aggregation_each(procs, figures) -> None:  # type: ignore[no-untyped-def]
    # Queues per stage, as docs/design.md §4 deploys them: held aggregations must not starve chunks.
    procs.worker(queues="default,ingest,recalc,finish")
    procs.worker(queues="aggregate")
    harness.upload_equipment()
    baseline = harness.snapshot()
    harness.wipe_results()
    before = max_job_id()
    plan = flood_plan()
    with AggregationSampler() as sampler, harness.AdvisoryLock(locks.AGGREGATION_YEAR, YEAR):
        t0 = time.monotonic()
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(fire, plan))
        flood_seconds = time.monotonic() - t0
        # Every recalculation the flood started finishes while the aggregations wait.
        wait_for(lambda: not sql(
            "SELECT 1 FROM data_ingestion_jobs WHERE id > :b AND job_type IN"
            " ('emission_recalc', 'module_emission_recalc') AND state IN ('NOT_STARTED',"
            " 'QUEUED', 'RUNNING')", b=before), 90, "the flood's recalculations to finish",
            interval=0.2, on_fail=harness.describe_jobs)
        held = sql("SELECT count(*) FROM data_ingestion_jobs WHERE id > :b AND job_type ="
                   " 'aggregation' AND state = 'RUNNING'", b=before)[0][0]
    wait_for(lambda: not harness.active_jobs(), 60, "every job to finish", interval=0.2,
             on_fail=harness.describe_jobs)
    elapsed = time.monotonic() - t0
    assert len(results) == 200
    jobs = sql("SELECT id, job_type, module_type_id, data_entry_type_id, state, result,"
               " attempts, meta, finished_at FROM data_ingestion_jobs WHERE id > :b ORDER BY id",
               b=before)
    recalcs = [j for j in jobs if j[1] == "emission_recalc"]
    roots = [j for j in jobs if j[1] == "module_emission_recalc"]
    aggs = [j for j in jobs if j[1] == "aggregation"]
    assert all((j[4], j[5]) == ("FINISHED", "SUCCESS") for j in jobs), harness.describe_jobs()
    # A trigger that meets a running recalculation is a no-op: no reruns (docs/design.md §4).
    assert not [j[0] for j in recalcs if "rerun_of" in (j[7].get("config") or {})]
    assert len(recalcs) == len({(j[3], j[0]) for j in recalcs})
    # One aggregation per (module, year) for the whole flood, each with at most one rerun.
    per_module = Counter(j[2] for j in aggs)
    assert per_module == {m: 1 for m in MODULES}, per_module
    runs = {j[2]: j[7]["aggregation"]["runs"] for j in aggs}
    assert all(r in (1, 2) for r in runs.values()), runs
    assert held >= 1
    assert all(sampler.max_active[m] <= 1 for m in MODULES), dict(sampler.max_active)
    # Every recalculation of a module finished before that module's aggregation did.
    last_recalc = {m: max(j[8] for j in recalcs if j[2] == m) for m in MODULES}
    assert all(j[8] > last_recalc[j[2]] for j in aggs)
    # Pipelines: the ones that created work all succeeded; dedup hits kept no pipeline.
    statuses = Counter(s for (s,) in sql("SELECT status FROM pipelines WHERE created_by ="
                                         " 'flood'"))
    assert set(statuses) == {"SUCCESS"}, statuses
    # Data and statistics: exactly the baseline rows, and stored stats of every module equal
    # a recomputation from those rows.
    out = harness.assert_same_results(baseline)
    stored = harness.stats_of(tuple(MODULES))
    assert stored == harness.fresh_stats(tuple(MODULES))
    recalcs_per_module = Counter(j[2] for j in recalcs)

    figures(injected=f"200 triggers (40 module-level, 160 per-type) over 8 modules from 32"
                     f" threads in {flood_seconds:.2f}s, aggregations held at their start",
            checked=f"{len(recalcs)} recalculation jobs ({dict(sorted(recalcs_per_module.items()))}"
                    f" per module, no rerun) + {len(roots)} module jobs, all SUCCESS;"
                    " 1 aggregation per"
                    f" module, runs {dict(sorted(runs.items()))} (2 = one dirty rerun);"
                    " never 2 active for a module; "
                    f"{sum(statuses.values())} pipelines kept, all SUCCESS",
            result=f"{out['rows']} rows exact; stats of 8 modules × 2 units equal a fresh"
                   " recomputation",
            seconds=round(elapsed, 1))
