"""What operators touch works on the session's broker (Redis, or RabbitMQ in the RabbitMQ
pass): ``/v1/health``, ``/v1/workers``, ``carbon recalc --wait``'s queue check, Flower,
exactly one ``carbon beat`` (its PostgreSQL lock), and a pipeline that waited for a consumer
finishes exact once one comes.
"""

from __future__ import annotations

import secrets
import subprocess
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.fault import harness
from tests.fault.harness import assert_pipeline_done, prepare, wait_for
from tests.integration.helpers import wait_pipeline

pytestmark = [pytest.mark.fault, pytest.mark.integration]


def test_health_workers_queue_check_and_one_beat(procs, figures) -> None:  # type: ignore[no-untyped-def]
    w, baseline = prepare(procs)
    w.kill()
    partial = procs.worker(queues="ingest,default", concurrency=1)

    from carbon_api.app import app
    from carbon_tasks.workers import worker_overview

    client = TestClient(app)
    assert client.get("/v1/health").json() == {"status": "ok", "database": "ok", "broker": "ok"}
    overview = wait_for(lambda: [x for x in worker_overview(timeout=1.0).workers
                                 if x.pid == partial.pid], 20, "the worker to answer")
    assert overview[0].queues == ["default", "ingest"] and overview[0].version

    # Nothing consumes recalc: `--wait` says so at once, then gives up after its timeout.
    out = subprocess.run(
        [harness.CARBON, "recalc", "equipment", "--all", "-y", str(harness.YEAR), "--wait",
         "--timeout", "2", "--json"], env=harness.child_env(COLUMNS="200"), cwd=harness.ROOT,
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "nothing consumes queue recalc" in out.stderr, out.stderr
    ((pid,),) = harness.sql("SELECT id FROM pipelines WHERE status = 'RUNNING'")

    # Flower on the same broker sees the worker (behind its basic auth).
    port = harness.free_port()
    flower_secret = secrets.token_urlsafe(16)  # generated per run
    flower = harness.Proc("flower", [harness.CARBON, "flower", "--port", str(port)],
                          harness.child_env(CARBON_FLOWER_USER="ops",
                                            CARBON_FLOWER_PASSWORD=flower_secret), procs.log_dir)
    procs.started.append(flower.start())
    base = f"http://127.0.0.1:{port}"

    def flower_sees_worker() -> bool:
        try:
            r = httpx.get(f"{base}/api/workers?refresh=1", auth=("ops", flower_secret), timeout=10)
        except httpx.TransportError:
            return False
        return r.status_code == 200 and any(k.startswith(f"{partial.name}@") for k in r.json())
    wait_for(flower_sees_worker, 60, "Flower to list the worker", interval=1,
             on_fail=flower.tail)
    assert httpx.get(f"{base}/api/workers", timeout=10).status_code == 401
    flower.kill()

    # Exactly one beat: the second is refused, naming the first (a PostgreSQL advisory lock,
    # whatever the broker).
    first = procs.beat()
    wait_for(lambda: "beat: Starting" in first.log() or "Scheduler" in first.log(), 30,
             "the first beat to start", on_fail=first.tail)
    second = subprocess.run(
        [harness.CARBON, "beat", "--lock-wait", "0"], env=harness.child_env(),
        cwd=harness.ROOT, capture_output=True, text=True, timeout=60)
    assert second.returncode != 0 and "another `carbon beat`" in second.stderr, second.stderr
    assert f":{first.pid}" in second.stderr
    assert first.alive()

    # A worker for every queue: the waiting pipeline finishes, exact.
    t0 = time.monotonic()
    procs.worker()
    p = wait_pipeline(str(pid), timeout=60)
    assert p.status == "SUCCESS", harness.describe_jobs()
    assert_pipeline_done(str(pid))
    result = harness.assert_same_results(baseline)
    figures(checked="/v1/health broker ok; /v1/workers and Flower list the worker;"
                    " `recalc --wait` warns that nothing consumes recalc; a second beat is"
                    " refused naming the first",
            result=f"the waiting pipeline finished {time.monotonic() - t0:.1f}s after a full"
                   f" worker came: {result['rows']} rows exact")
