"""No pipeline left RUNNING forever (issue 11 item 2), with real processes: a module-level
recalculation whose message never reached the broker (the API saw it down), one whose plan
message was lost in the broker, and a second module trigger while the first one runs.

Each used to leave the module-level job NOT_STARTED or QUEUED and its pipeline RUNNING
(the reconciler dispatched the per-type jobs without their module job; a second module
job waited for the first one's run slot until its plan task gave up).
"""

from __future__ import annotations

import time

import httpx
import pytest

from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs.job_links import module_jobs
from carbon_tasks import operations as ops
from tests.fault import harness
from tests.fault.harness import (
    EQUIPMENT,
    YEAR,
    EntryLock,
    blocked_writers,
    prepare,
    sql,
    wait_for,
)
from tests.integration.helpers import jobs_of, wait_pipeline
from tests.integration.test_pipeline_guarantees import EQUIP_FACTORS

pytestmark = [pytest.mark.fault, pytest.mark.integration]


def test_module_recalc_saved_while_the_broker_was_down_finishes(procs, figures) -> None:  # type: ignore[no-untyped-def]
    w, baseline = prepare(procs)
    api = harness.Api(harness.child_env(**harness.dead_broker_env()), procs.log_dir)
    procs.started.append(api.start())
    api.wait_ready()
    r = httpx.post(f"{api.url}/v1/sync/recalculate-emissions/{EQUIPMENT}",
                   params={"year": YEAR, "only_stale": "false"},
                   headers=harness.operator_token(), timeout=30)
    assert r.status_code == 503, r.text
    pid, root_id = r.json()["pipeline_id"], r.json()["job_id"]
    states = [(j.job_type, j.state) for j in jobs_of(pid)]
    assert states == [("module_emission_recalc", "NOT_STARTED")] + [
        ("emission_recalc", "NOT_STARTED")] * 3
    t0 = time.monotonic()
    # The broker is reachable again for everyone else: the reconciler finds the outbox.
    with harness.reconciler_thread(interval=1.0) as summaries:
        p = wait_pipeline(pid, timeout=90)
    seconds = time.monotonic() - t0
    assert p.status == "SUCCESS", harness.describe_jobs()
    out = harness.assert_pipeline_done(pid)
    root = jobs_of(pid)[0]
    assert root.id == root_id and root.meta["children"]
    res = harness.assert_same_results(baseline)
    figures(injected="module recalculation POSTed to an API whose broker is unreachable (503)",
            checked=f"reconciler dispatched {harness.total(summaries, 'outbox')} outbox jobs;"
                    " module job, 3 types and the aggregation FINISHED SUCCESS, pipeline"
                    f" SUCCESS, {len(out['aggregations'])} aggregation",
            result=f"{res['rows']} rows exact", seconds=round(seconds, 1))


def test_module_root_whose_plan_message_was_lost_finishes(procs, settings, figures) -> None:  # type: ignore[no-untyped-def]
    w, baseline = prepare(procs)
    w.kill()  # nobody consumes: the plan message waits in the queue, then is lost
    pid = harness.trigger()
    wait_for(lambda: harness.queued_messages("recalc") == 1, 10, "the plan message")
    assert [j.state for j in jobs_of(pid)] == ["QUEUED"] * 4
    assert harness.drop_queue("recalc") == 1
    procs.worker()
    settings(stale_job_seconds=3)  # this process's reconciler: "queued 3 s ago = lost"
    t0 = time.monotonic()
    with harness.reconciler_thread(interval=1.0) as summaries:
        p = wait_pipeline(pid, timeout=90)
    seconds = time.monotonic() - t0
    assert p.status == "SUCCESS", harness.describe_jobs()
    harness.assert_pipeline_done(pid)
    res = harness.assert_same_results(baseline)
    figures(injected="the plan message of a module recalculation deleted from the broker",
            checked=f"reconciler re-dispatched {harness.total(summaries, 'lost')} lost jobs"
                    " (the module job with its 3 types); all FINISHED SUCCESS, pipeline SUCCESS",
            result=f"{res['rows']} rows exact", seconds=round(seconds, 1))


def test_second_module_trigger_joins_the_running_one(procs, figures) -> None:  # type: ignore[no-untyped-def]
    w, baseline = prepare(procs, wipe=False)
    # Only "scientific" (10) is stale: factor uploads for that type alone. Its factor goes to
    # 0.2 and back to 0.1, so the (incremental) recalculation rewrites every scientific entry
    # (chunk 1 is the held one) and the rows end equal to the baseline.
    for ef in ("0.2", "0.1"):
        lines = EQUIP_FACTORS.format(ef=ef).splitlines()
        harness.upload("factors", lines[0] + "\n" + lines[1] + "\n",
                       module=EQUIPMENT, det=10, year=YEAR)
    before = harness.max_job_id()
    with EntryLock(harness.entry_in_chunk(10, 1)) as lock:
        first = ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, only_stale=True,
                                                 created_by="first")
        wait_for(blocked_writers, 30, "the first recalculation to be running")
        second = ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR,
                                                  only_stale=False, created_by="second")
        assert second.pipeline_id != first.pipeline_id
        # While the first one's type is held, the second one runs its own types at once.
        own = [j for j in jobs_of(second.pipeline_id) if j.job_type == "emission_recalc"]
        assert sorted(j.data_entry_type_id for j in own) == [11, 12]
        wait_for(lambda: all(j.state == "FINISHED" for j in jobs_of(second.pipeline_id)
                             if j.job_type == "emission_recalc"), 60,
                 "the second trigger's own types to finish while the first one runs",
                 interval=0.2, on_fail=harness.describe_jobs)
        root2 = jobs_of(second.pipeline_id)[0]
        with session_scope() as s:
            joined = module_jobs(s, [root2.id])[root2.id].joined
        assert root2.state == "RUNNING" and joined
        # One trailing aggregation: none while the held type is still active.
        assert not [j for j in harness.jobs_after(before) if j[1] == "aggregation"]
        lock.release()
    p1 = wait_pipeline(first.pipeline_id, timeout=60)
    p2 = wait_pipeline(second.pipeline_id, timeout=60)
    assert (p1.status, p2.status) == ("SUCCESS", "SUCCESS"), harness.describe_jobs()
    new = harness.jobs_after(before)
    assert all((j[4], j[5]) == ("FINISHED", "SUCCESS") for j in new), harness.describe_jobs()
    kinds = sorted(j[1] for j in new)
    assert kinds == ["aggregation"] + ["emission_recalc"] * 3 + ["module_emission_recalc"] * 2
    (agg,) = [j for j in new if j[1] == "aggregation"]
    assert agg[6]["aggregation"]["runs"] == 1
    assert len(jobs_of(second.pipeline_id)[0].meta["children"]) == 3
    assert harness.active_jobs() == []
    res = harness.assert_same_results(baseline)
    assert sql("SELECT count(*) FROM pipelines WHERE status = 'RUNNING'")[0][0] == 0
    figures(injected="module trigger 'only stale' (1 type, held mid-write), then 'all' (3 types)",
            checked="the second module job starts at once, runs its 2 own types while the"
                    " first is held, joins the held one; both pipelines SUCCESS, 1 trailing"
                    " aggregation with 1 run, no reconciler",
            result=f"{res['rows']} rows exact")
