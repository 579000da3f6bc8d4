"""Worker faults (issue 8 item 1): a pool child SIGKILLed mid-chunk, the whole worker SIGKILLed
(recovered by the reconciler's re-plan, or by the broker's visibility timeout), and a frozen
child that wakes up after its job was re-planned.

Every test: a clean pipeline first computes the baseline (3 equipment types × 1200 entries,
chunks of 200), the results are wiped, and a module recalculation (18 chunks in one chord)
runs with the fault injected into chunk 1 of type 11 while it is writing. The end state must
be exactly the baseline: same rows, none doubled, none lost, same module statistics.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.fault import harness
from tests.fault.harness import (
    EntryLock,
    assert_pipeline_done,
    blocked_writers,
    chunk_task_id,
    owner_of,
    prepare,
    recalc_job_id,
    trigger,
    wait_for,
)
from tests.integration.helpers import wait_pipeline

pytestmark = [pytest.mark.fault, pytest.mark.integration]

DET = 11        # the type whose chunk is hit
CHUNK_NO = 1    # its second chunk: the pipeline is well under way when it runs


def test_pool_child_sigkilled_mid_chunk_is_redelivered(procs, figures) -> None:  # type: ignore[no-untyped-def]
    w, baseline = prepare(procs)
    with EntryLock(harness.entry_in_chunk(DET, CHUNK_NO)):
        t0 = time.monotonic()
        pid = trigger()
        (first,) = wait_for(blocked_writers, 30, "chunk 1 of type 11 blocked mid-write")
        child = owner_of(first, w.children())
        assert child is not None, "no pool child holds the blocked connection"
        child.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        # The main process sees the child die (WorkerLostError), requeues the message
        # (task_reject_on_worker_lost) and another child runs it: it writes the same chunk
        # and blocks on the same row, next to the dead child's still-open transaction.
        again = wait_for(lambda: [b for b in blocked_writers() if b.pid != first.pid], 30,
                         "the redelivered chunk to reach the same point")
        owner = owner_of(again[0], w.children())
        assert owner is not None and owner.pid != child.pid
        redelivered_after = time.monotonic() - killed_at
    # Lock released: the redelivered run commits; the dead child's backend finds its client
    # gone and rolls back.
    p = wait_pipeline(pid, timeout=60)
    elapsed = time.monotonic() - t0
    assert p.status == "SUCCESS"
    jobs = assert_pipeline_done(pid, attempts={10: 1, 11: 1, 12: 1})
    out = harness.assert_same_results(baseline)
    log = w.log()
    assert "WorkerLostError" in log and "signal 9" in log
    tid = chunk_task_id(jobs["recalcs"][DET].id, CHUNK_NO)
    assert log.count(f"carbon.recalculate_chunk[{tid}] received") == 2, "not redelivered once"
    assert log.count(f"carbon.recalculate_chunk[{tid}] succeeded") == 1
    figures(injected="SIGKILL of the prefork child writing chunk 1 of type 11",
            recovery=f"redelivered by the worker's main process after {redelivered_after:.2f}s"
                     " (same task id, attempt 1, no reconciler)",
            result=f"{out['rows']} rows for {out['entries']} entries, exact; stats exact",
            pipeline_seconds=round(elapsed, 1))


def test_whole_worker_sigkilled_is_recovered_by_the_reconciler(procs, settings, figures) -> None:  # type: ignore[no-untyped-def]
    # A visibility timeout longer than the test: the broker will not hand the dead worker's
    # unacked messages back, so only the reconciler can recover (the production situation
    # for the first hour with the default 3600 s).
    w, baseline = prepare(procs, CARBON_VISIBILITY_TIMEOUT="600")
    settings(stale_job_seconds=3)
    with EntryLock(harness.entry_in_chunk(DET, CHUNK_NO)):
        t0 = time.monotonic()
        pid = trigger()
        wait_for(blocked_writers, 30, "chunk 1 of type 11 blocked mid-write")
        killed = [p.pid for p in w.processes()]
        w.kill()                                   # main process and both pool children
        assert len(killed) == 3
        wait_for(lambda: all(harness.dead(p) for p in killed), 5, "the worker to be dead")
        killed_at = time.monotonic()
    # The dead worker's transaction rolls back when its backend finds the client gone.
    w2 = procs.worker(CARBON_VISIBILITY_TIMEOUT="600")
    with harness.reconciler_thread(1.0) as summaries:
        p = wait_pipeline(pid, timeout=60)
    done_at = time.monotonic()
    elapsed = done_at - t0
    assert p.status == "SUCCESS"
    # Each type is re-planned by the first reconcile pass that finds it stale, so the
    # three types may go out in up to three re-plans, each with its own aggregation.
    jobs = assert_pipeline_done(pid, rounds=3)
    if harness.BROKER_KIND == "redis":
        # The hit type was re-planned as attempt 2; its attempt-1 chunks became no-ops.
        assert jobs["recalcs"][DET].attempts == 2
        assert all(j.attempts in (1, 2) for j in jobs["recalcs"].values())
        assert harness.total(summaries, "retried") >= 1
        lost = "the lost messages stayed unacked (visibility 600 s)"
    else:
        # RabbitMQ hands a dead consumer's unacked messages back the moment its connection
        # closes: the new worker runs them at once, racing the reconciler's re-plan (stale
        # after 3 s, so a loaded machine may re-plan a type twice). Whichever attempt is
        # current writes; every older one is fenced off at commit (rows exact below).
        assert all(1 <= j.attempts <= 3 for j in jobs["recalcs"].values())
        lost = "RabbitMQ requeued the dead worker's unacked messages at once"
    assert harness.total(summaries, "gave_up") == 0
    assert not any("error" in s for s in summaries), summaries
    out = harness.assert_same_results(baseline)
    replanned = {d: j.attempts for d, j in jobs["recalcs"].items()}
    passes = sum(1 for s in summaries if s.get("retried"))
    figures(injected="SIGKILL of the whole worker (main + 2 children) while chunk 1 of type"
                     " 11 was writing; a new worker started",
            recovery=f"reconciler re-plan (stale after 3 s) in {passes} pass(es), attempts per"
                     f" type {replanned}, {len(jobs['aggregations'])} aggregation(s); pipeline"
                     f" done {done_at - killed_at:.1f}s after the kill; {lost}",
            result=f"{out['rows']} rows for {out['entries']} entries, exact; stats exact",
            pipeline_seconds=round(elapsed, 1))
    assert w2.alive()


def test_whole_worker_sigkilled_is_recovered_by_redelivery(procs, figures) -> None:  # type: ignore[no-untyped-def]
    """No reconciler; a 3 s visibility timeout: a worker starting up sweeps the unacked
    messages older than that back into their queues.

    Both children are held mid-write (chunks 1 and 2 of type 11) when the worker dies, so
    no message is between the broker and the worker at that moment. (kombu's Redis transport
    BRPOPs a message and only then records it as unacked, client-side: a SIGKILL in that
    window loses the message for good, and only the reconciler's re-plan recovers it; the
    reconciler test covers that case.)"""
    w, baseline = prepare(procs, CARBON_VISIBILITY_TIMEOUT="3")
    with EntryLock(harness.entry_in_chunk(DET, CHUNK_NO), harness.entry_in_chunk(DET, 2)):
        t0 = time.monotonic()
        pid = trigger()
        wait_for(lambda: len(blocked_writers()) == 2, 30, "both children blocked mid-write")
        job_id = recalc_job_id(pid, DET)
        tids = [chunk_task_id(job_id, CHUNK_NO), chunk_task_id(job_id, 2)]
        w.kill()
        killed_at = time.monotonic()
    time.sleep(3.0)     # past the visibility timeout of the lost messages
    w2 = procs.worker(CARBON_VISIBILITY_TIMEOUT="3")
    p = wait_pipeline(pid, timeout=60)
    done_at = time.monotonic()
    elapsed = done_at - t0
    assert p.status == "SUCCESS"
    jobs = assert_pipeline_done(pid, attempts={10: 1, 11: 1, 12: 1})
    assert jobs["recalcs"][DET].attempts == 1
    for tid in tids:
        assert f"carbon.recalculate_chunk[{tid}] received" in w2.log(), "not redelivered"
        assert f"carbon.recalculate_chunk[{tid}] succeeded" in w2.log()
    out = harness.assert_same_results(baseline)
    figures(injected="SIGKILL of the whole worker while both children were writing (chunks 1"
                     " and 2 of type 11); a new worker started 3 s later",
            recovery=f"redelivery: the new worker's start-up sweep restored the unacked"
                     f" messages (visibility 3 s); same task id, attempt 1; pipeline done"
                     f" {done_at - killed_at:.1f}s after the kill",
            result=f"{out['rows']} rows for {out['entries']} entries, exact; stats exact",
            pipeline_seconds=round(elapsed, 1))


def test_frozen_child_woken_after_a_replan_writes_nothing(procs, settings, figures) -> None:  # type: ignore[no-untyped-def]
    """A child that is alive but stuck (SIGSTOP: a long GC pause, a stalled VM) while its
    chunk is mid-write. Its job looks orphaned, the reconciler re-plans it, the new attempt
    rewrites the chunk and the pipeline completes. When the old child wakes up it must not
    commit its (superseded) rows on top: fencing by attempt, not only by a start check."""
    w, baseline = prepare(procs)
    settings(stale_job_seconds=2)
    lock = EntryLock(harness.entry_in_chunk(DET, CHUNK_NO))
    child = None
    with lock:
        t0 = time.monotonic()
        pid = trigger()
        (first,) = wait_for(blocked_writers, 30, "chunk 1 of type 11 blocked mid-write")
        old_tid = chunk_task_id(recalc_job_id(pid, DET), CHUNK_NO)
        child = owner_of(first, w.children())
        assert child is not None
        child.suspend()                             # SIGSTOP
        try:
            with harness.reconciler_thread(1.0) as _summaries:
                wait_for(lambda: harness.recalc_job(pid, DET).attempts >= 2, 30,
                         "the reconciler to re-plan type 11")
                # Attempt 2's chunk 1 reaches the same row; the old one still holds its rows.
                wait_for(lambda: [b for b in blocked_writers() if b.pid != first.pid], 30,
                         "attempt 2 of chunk 1 to be writing")
                lock.release()
                p = wait_pipeline(pid, timeout=60)
            replanned_after = time.monotonic() - t0
        finally:
            child.resume()                          # SIGCONT
    # The old child finishes its task now, after the pipeline completed.
    wait_for(lambda: f"recalculate_chunk[{old_tid}] succeeded" in w.log()
             or f"recalculate_chunk[{old_tid}] raised" in w.log(), 30,
             "the woken child to finish its chunk", on_fail=w.tail)
    time.sleep(0.3)
    assert p.status == "SUCCESS"
    jobs = assert_pipeline_done(pid, rounds=3)
    assert jobs["recalcs"][DET].attempts == 2
    out = harness.assert_same_results(baseline)
    log = w.log()
    assert f"recalculate_chunk[{old_tid}] succeeded" in log
    assert (f"attempt 1 was superseded while chunk {CHUNK_NO} ran;"
            " its writes were rolled back") in log
    assert "'superseded': True" in log
    figures(injected="SIGSTOP of the child writing chunk 1 of type 11; reconciler re-plans"
                     " (stale after 2 s); SIGCONT after the pipeline completed",
            recovery=f"re-plan as attempt 2, pipeline done {replanned_after:.1f}s after the"
                     " trigger; the woken attempt-1 chunk was fenced off and rolled back",
            result=f"{out['rows']} rows for {out['entries']} entries, exact; stats exact")
