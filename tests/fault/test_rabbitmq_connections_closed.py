"""RabbitMQ drops every connection mid-pipeline (what a broker restart or a failover does to
its clients), on a RabbitMQ session (``CARBON_TEST_BROKER=amqp``).

``rabbitmqctl close_all_connections --vhost <the session's vhost>`` closes the worker's, beat's
and this process's connections while chunk 1 of type 11 is in the middle of its write and
later chunks wait in the queue. Only this session's vhost is touched, so concurrent sessions on
the shared server are not disturbed. Nobody restarts anything: the worker's main process must
reconnect by itself (the same pid throughout), RabbitMQ must hand the unacked messages back
(redelivery, not the reconciler: stale jobs are only re-planned after 600 s here), and the
pipeline must finish with exactly the baseline's rows and statistics.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.conftest import TEST_VHOST, rabbitmqctl
from tests.fault import harness
from tests.fault.harness import (
    EntryLock,
    assert_pipeline_done,
    blocked_writers,
    chunk_task_id,
    prepare,
    trigger,
    wait_for,
)
from tests.integration.helpers import wait_pipeline

pytestmark = [pytest.mark.fault, pytest.mark.integration,
              pytest.mark.skipif(harness.BROKER_KIND != "amqp",
                                 reason="a RabbitMQ scenario (CARBON_TEST_BROKER=amqp)")]

DET, CHUNK_NO = 11, 1


def vhost_queues() -> dict[str, dict[str, object]]:
    out = rabbitmqctl("list_queues", "-p", TEST_VHOST, "name", "type", "durable",
                      "--formatter", "json")
    return {q["name"]: q for q in json.loads(out)}


def vhost_connections() -> int:
    out = rabbitmqctl("list_connections", "vhost", "--formatter", "json")
    return sum(1 for c in json.loads(out) if c.get("vhost") == TEST_VHOST)


def test_declared_queues_are_durable_quorum_queues(procs) -> None:  # type: ignore[no-untyped-def]
    procs.worker()
    queues = vhost_queues()
    for name in harness.all_queues().split(","):
        assert queues[name]["type"] == "quorum", queues[name]
        assert queues[name]["durable"] is True
    from carbon_tasks.app import app
    assert app.conf.broker_transport_options.get("confirm_publish") is True
    assert app.conf.task_acks_late is True


def test_connections_closed_mid_pipeline_workers_reconnect(procs, figures) -> None:  # type: ignore[no-untyped-def]
    env = {"CARBON_STALE_JOB_SECONDS": "600", "CARBON_RECONCILE_INTERVAL": "1"}
    w, baseline = prepare(procs, **env)
    beat = procs.beat(**env)
    main_pid = w.pid
    with EntryLock(harness.entry_in_chunk(DET, CHUNK_NO)):
        t0 = time.monotonic()
        pid = trigger()
        wait_for(blocked_writers, 30, "chunk 1 of type 11 blocked mid-write", on_fail=w.tail)
        done_before = harness.chunks_done(pid)
        before = vhost_connections()
        assert before >= 2  # the worker's (consumer, events, pidbox) and beat's
        rabbitmqctl("close_all_connections", "--vhost", TEST_VHOST, "fault test")
        closed_at = time.monotonic()
        # The worker's main process notices, cancels the chunk it was running (its delivery
        # tag died with the channel: worker_cancel_long_running_tasks_on_connection_loss) and
        # reconnects; RabbitMQ requeued every unacked message when the connection closed.
        wait_for(lambda: "Connection to broker lost" in w.log(), 30,
                 "the worker to notice the closed connection", on_fail=w.tail)
        wait_for(lambda: vhost_connections() >= 1, 30, "the worker to reconnect",
                 on_fail=w.tail)
        reconnected_after = time.monotonic() - closed_at
    p = wait_pipeline(pid, timeout=90)
    done_at = time.monotonic()
    assert p.status == "SUCCESS", harness.describe_jobs()
    assert w.alive() and w.pid == main_pid, "the worker's main process did not survive"
    assert beat.alive(), beat.tail()
    # Redelivery, not a re-plan: every type ran as attempt 1.
    jobs = assert_pipeline_done(pid, attempts={10: 1, 11: 1, 12: 1})
    out = harness.assert_same_results(baseline)
    log = w.log()
    tid = chunk_task_id(jobs["recalcs"][DET].id, CHUNK_NO)
    assert log.count(f"carbon.recalculate_chunk[{tid}] received") >= 2, "not redelivered"
    assert log.count(f"carbon.recalculate_chunk[{tid}] succeeded") == 1
    figures(injected="rabbitmqctl close_all_connections on the session's vhost while chunk 1"
                     f" of type 11 was writing ({done_before} of 18 chunks done,"
                     f" {before} connections)",
            recovery=f"worker (same pid) reconnected {reconnected_after:.1f}s later; RabbitMQ"
                     " redelivered the unacked chunk (same task id, attempt 1); no reconciler,"
                     " no supervisor; beat reconnected",
            result=f"{out['rows']} rows for {out['entries']} entries, exact; stats exact",
            pipeline_seconds=round(done_at - t0, 1),
            worker_pid_unchanged=True, vhost=os.environ["CELERY_BROKER_URL"].rsplit("/", 1)[1])
