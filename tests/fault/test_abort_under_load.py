"""Abort under load (issue 11 item 3): ``POST /v1/sync/pipelines/{id}/abort`` on a module
recalculation of 21,000 entries (3 equipment types × 7,000, chunks of 200: 105 chunks) while
2 worker processes run its chunks, at three points of its progress.

It used to answer 503 ("The database is unreachable or busy") when PostgreSQL broke a
deadlock between the abort (pipeline row, then job rows) and a finishing recalculation (job
rows, then the pipeline row). Now every path takes the pipeline rows before the job rows,
and a deadlock or serialization failure is retried server-side.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import httpx
import pytest

from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.status import year_status
from carbon_tasks import operations as ops
from tests.fault import harness
from tests.fault.harness import EQUIPMENT, YEAR, wait_for
from tests.integration.helpers import jobs_of, wait_pipeline
from tests.integration.test_pipeline_guarantees import EQUIP_FACTORS

pytestmark = [pytest.mark.fault, pytest.mark.integration]

ENTRIES = 7000


def stale_types() -> dict[int, tuple[bool, bool]]:
    with session_scope() as s:
        (m,) = [asdict(m) for m in year_status(s, YEAR) if m.module_type_id == EQUIPMENT]
    return {t["data_entry_type_id"]: (t["needs_recalculation"], t["recalculation_in_progress"])
            for t in m["data_entry_types"]}


def test_abort_during_a_21k_entry_recalculation(procs, figures) -> None:  # type: ignore[no-untyped-def]
    procs.worker(concurrency=2)
    harness.upload_equipment(n=ENTRIES)
    before = harness.emissions()
    assert len(before) == 3 * ENTRIES
    # Revised factors (twice the kg per kWh), not recalculated yet: every type is stale. An
    # aborted recalculation leaves the old rows, all of them: its chunks filled stages that
    # only a finish swaps in (db/emission_partitions.py).
    harness.upload("factors", EQUIP_FACTORS.format(ef="0.2"), module=EQUIPMENT, year=YEAR)
    assert all(v == (True, False) for v in stale_types().values())
    api = harness.Api(harness.child_env(), procs.log_dir)
    procs.started.append(api.start())
    api.wait_ready()
    headers = harness.operator_token()
    total_chunks = 3 * ENTRIES // harness.CHUNK
    answers = []
    for at in (3, 20, 40, 60, 80):  # chunks done when the abort is sent
        pid = harness.trigger()
        wait_for(lambda p=pid, n=at: harness.chunks_done(p) >= n, 120,
                 f"{at} chunks to be done", interval=0.02, on_fail=harness.describe_jobs)
        t0 = time.monotonic()
        r = httpx.post(f"{api.url}/v1/sync/pipelines/{pid}/abort", headers=headers, timeout=60)
        seconds = time.monotonic() - t0
        done_at_abort = harness.chunks_done(pid)
        assert r.status_code == 200, (r.status_code, r.text, api.tail())
        answers.append((at, done_at_abort, round(seconds, 3)))
        assert r.json()["aborted_job_ids"], r.json()
        # Chunks already taken finish as no-ops (rolled back by the fence); nothing stays
        # active, and nothing started by this pipeline runs afterwards.
        wait_for(lambda: not harness.active_jobs(), 60, "every job to be finished",
                 interval=0.1, on_fail=harness.describe_jobs)
        p = wait_pipeline(pid, timeout=5)
        assert p.status == "ABORTED"
        js = jobs_of(pid)
        assert all(j.state == "FINISHED" for j in js)
        assert {(j.job_type, j.result) for j in js if j.meta.get("aborted")} >= {
            ("module_emission_recalc", "ERROR")}
        # The types stay stale (no complete recalculation since the factor upload) and
        # are no longer in progress.
        assert all(v == (True, False) for v in stale_types().values()), stale_types()
        # Full recalculations (the revised factor set replaced the old one): stage path.
        assert {(j.meta.get("config", {}).get("scope") or {}).get("incremental")
                for j in js if j.job_type == "emission_recalc"} == {False}
        assert harness.emissions() == before, "an aborted run changed the rows"
    # Recalculable afterwards: the stale types are recalculated and the rows are exact.
    acc = ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, only_stale=True,
                                           created_by="after-abort")
    assert wait_pipeline(acc.pipeline_id, timeout=120).status == "SUCCESS"
    assert all(v == (False, False) for v in stale_types().values())
    assert harness.active_jobs() == []
    after = harness.emissions()
    assert [r[:3] + r[4:] for r in after] == [r[:3] + r[4:] for r in before]
    assert all(abs(a[3] - 2 * b[3]) <= 1e-9 * abs(b[3]) for a, b in zip(after, before, strict=True))
    assert harness.stats_of((EQUIPMENT,)) == harness.fresh_stats((EQUIPMENT,))
    # The aborted runs' stages are gone (dropped by the abort's follow-up or the next plan).
    assert harness.sql("SELECT count(*) FROM emission_stages") == [(0,)]
    assert harness.sql("SELECT count(*) FROM pg_class WHERE relname ~ '^emission_stage_j'"
                       ) == [(0,)]
    # The lock order holds: no deadlock even needed the server-side retry.
    log = api.log()
    assert "DeadlockDetected" not in log and "deadlock detected" not in log, log
    assert '"status": 503' not in log
    figures(injected=f"abort of a {3 * ENTRIES:,}-entry module recalculation ({total_chunks}"
                     " chunks, 2 worker processes) through the API at 5 points",
            checked="(chunks wanted, chunks done, abort answer seconds): "
                    + ", ".join(map(str, answers))
                    + "; 200 each time, pipeline ABORTED, no job active, types stale;"
                    " then recalculated",
            result=f"{len(after)} rows, each exactly twice its old kg (the revised factor),"
                   " after the stale types were recalculated; stats exact")
