"""A type whose entries all went away, recalculated by a real worker: no chunk runs, and the
module statistics must drop that type's kg and entries instead of keeping the sums folded
from its last run (they used to read as up to date with the removed entries' numbers)."""

from __future__ import annotations

import time

import pytest

from tests.fault import harness
from tests.fault.harness import ENTRIES, EQUIPMENT, UNITS, prepare, sql, trigger
from tests.integration.helpers import wait_pipeline

pytestmark = [pytest.mark.fault, pytest.mark.integration]


def test_module_recalculation_after_a_type_was_emptied(procs, figures) -> None:  # type: ignore[no-untyped-def]
    _w, _baseline = prepare(procs, wipe=False)
    before = harness.stats_of((EQUIPMENT,))
    assert sum(st["entry_count"] for st in before.values()) == 3 * ENTRIES
    sql("DELETE FROM data_entries WHERE data_entry_type_id = 12 RETURNING id")
    t0 = time.monotonic()
    p = wait_pipeline(trigger(), timeout=90)
    assert p.status == "SUCCESS", harness.describe_jobs()
    after = harness.stats_of((EQUIPMENT,))
    assert sum(st["entry_count"] for st in after.values()) == 2 * ENTRIES
    harness.assert_stats_match_rows((EQUIPMENT,))
    figures(injected="every entry of one equipment type removed, then the module recalculated",
            checked="stats of " + ", ".join(UNITS) + " equal the sums of their rows",
            result=f"{2 * ENTRIES} entries left", seconds=round(time.monotonic() - t0, 1))
