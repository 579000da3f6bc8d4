"""A full recalculation fills a stage table per slice and its finish swaps the stages in as
the slices' partitions, in the transaction that closes the jobs (db/emission_partitions.py).
A worker killed mid-swap must leave each slice whole: its old rows or its new ones, never a
mix and never both.

The baseline pipeline leaves every equipment row in place (no wipe). A reader then holds
type 11's partition; the module recalculation's finish, which locks the three types in type
order before swapping (type 10's lock granted), waits for the reader. Meanwhile the reader
still sees exactly the old rows of type 11. The pool child running the finish is SIGKILLed
there; the reader lets go; the dead child's transaction rolls back and the redelivered
finish swaps all three. End: exactly the baseline's values, every row a new one (ids above the
baseline's), no stage table left.
"""

from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import text

from tests.fault import harness
from tests.fault.harness import (
    assert_pipeline_done,
    blocked_swaps,
    owner_of,
    prepare,
    sql,
    trigger,
    wait_for,
)
from tests.integration.helpers import wait_pipeline

pytestmark = [pytest.mark.fault, pytest.mark.integration]

DET = 11


def _ids_by_type() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for det, i in sql("SELECT data_entry_type_id, id FROM data_entry_emissions ORDER BY id"):
        out.setdefault(int(det), []).append(int(i))
    return out


def test_worker_killed_mid_swap_leaves_old_or_new_slice(procs, figures) -> None:  # type: ignore[no-untyped-def]
    w, baseline = prepare(procs, wipe=False)
    old = _ids_by_type()
    assert sorted(old) == [10, 11, 12]
    top = max(max(v) for v in old.values())
    conn = harness._engine().connect()
    tx = conn.begin()
    conn.execute(text(f"LOCK TABLE data_entry_emissions_t{DET} IN ACCESS SHARE MODE"))
    try:
        t0 = time.monotonic()
        pid = trigger()
        (swap,) = wait_for(blocked_swaps, 60, "the finish waiting to swap type 11")
        assert f"data_entry_emissions_t{DET}" in swap.query
        # Mid-swap, the held slice is its old rows, all of them.
        seen = sorted(int(i) for (i,) in conn.execute(text(
            f"SELECT id FROM data_entry_emissions_t{DET}")))
        assert seen == old[DET]
        child = owner_of(swap, w.children())
        assert child is not None, "no pool child holds the swapping connection"
        child.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        # The dead child's backend still waits for the lock: give the kill time to land.
        wait_for(lambda: not child.is_running(), 10, "the pool child to die")
    finally:
        tx.rollback()
        conn.close()
    p = wait_pipeline(pid, timeout=90)
    elapsed = time.monotonic() - t0
    assert p.status == "SUCCESS"
    assert_pipeline_done(pid, attempts={10: 1, 11: 1, 12: 1})
    out = harness.assert_same_results(baseline)
    new = _ids_by_type()
    for det in (10, 11, 12):
        assert len(new[det]) == len(old[det])
        assert min(new[det]) > top, f"type {det} kept old rows next to new ones"
    assert sql("SELECT count(*) FROM emission_stages") == [(0,)]
    assert sql("SELECT count(*) FROM pg_class WHERE relname ~ '^emission_stage_j'") == [(0,)]
    log = w.log()
    assert "WorkerLostError" in log and "signal 9" in log
    figures(injected="SIGKILL of the pool child swapping type 11's partition (held by a reader)",
            recovery=f"finish redelivered, all three slices swapped"
                     f" {time.monotonic() - killed_at:.2f}s after the kill",
            result=f"{out['rows']} rows, all new, exact; stats exact",
            pipeline_seconds=round(elapsed, 1))
