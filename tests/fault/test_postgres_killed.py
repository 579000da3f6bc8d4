"""PostgreSQL connections killed (issue 8 item 3): ``pg_terminate_backend`` on every backend
of the worker while a chunk is in the middle of its write. The chunk's transaction is rolled
back by the server; the task retries with backoff on the same message (attempt 1, no
reconciler) and the end state is exactly the baseline."""

from __future__ import annotations

import re
import time

import pytest

from tests.fault import harness
from tests.fault.harness import (
    EntryLock,
    assert_pipeline_done,
    blocked_writers,
    chunk_task_id,
    prepare,
    recalc_job_id,
    trigger,
    wait_for,
)
from tests.integration.helpers import wait_pipeline

pytestmark = [pytest.mark.fault, pytest.mark.integration]

DET, CHUNK_NO = 11, 1


def test_worker_connections_terminated_mid_chunk_retry_with_backoff(procs, figures) -> None:  # type: ignore[no-untyped-def]
    w, baseline = prepare(procs)
    with EntryLock(harness.entry_in_chunk(DET, CHUNK_NO)):
        t0 = time.monotonic()
        pid = trigger()
        (first,) = wait_for(blocked_writers, 30, "chunk 1 of type 11 blocked mid-write")
        tid = chunk_task_id(recalc_job_id(pid, DET), CHUNK_NO)
        victims = harness.backends_of(w.processes())
        assert first.pid in victims
        # Every connection the worker holds: the blocked chunk's, the other child's (busy or
        # idle in its pool), none of this test's.
        assert harness.terminate_backends(victims) == len(victims)
        killed_at = time.monotonic()
        # The retry (same task id, after its backoff countdown) reaches the same row again.
        again = wait_for(lambda: [b for b in blocked_writers() if b.pid not in victims], 30,
                         "the retried chunk to be writing again", on_fail=w.tail)
        retried_after = time.monotonic() - killed_at
        assert again
    p = wait_pipeline(pid, timeout=60)
    elapsed = time.monotonic() - t0
    assert p.status == "SUCCESS"
    assert_pipeline_done(pid, attempts={10: 1, 11: 1, 12: 1})
    out = harness.assert_same_results(baseline)
    log = w.log()
    retries = re.findall(rf"carbon\.recalculate_chunk\[{tid}\] retry: Retry in (\d+)s: "
                         r"(\w+)\(", log)
    assert retries, "the chunk did not retry"
    assert {kind for _, kind in retries} <= {"OperationalError", "InterfaceError"}, retries
    assert log.count(f"carbon.recalculate_chunk[{tid}] succeeded") == 1
    # Nothing failed for good: no chord error, no job finished as ERROR.
    assert "recalculation chord failed" not in log
    assert f"carbon.recalculate_chunk[{tid}] raised unexpected" not in log
    figures(injected=f"pg_terminate_backend on all {len(victims)} backends of the worker while"
                     " chunk 1 of type 11 was writing",
            recovery=f"task retry with backoff ({len(retries)}"
                     f" retr{'y' if len(retries) == 1 else 'ies'},"
                     f" countdown {', '.join(c + 's' for c, _ in retries)}, {retries[0][1]});"
                     f" retried chunk writing again {retried_after:.2f}s after the kill;"
                     " attempt 1, no redelivery, no reconciler",
            result=f"{out['rows']} rows for {out['entries']} entries, exact; stats exact",
            pipeline_seconds=round(elapsed, 1))
