"""The figures of the system we replace, on its own slices, as the bench compares against them.

Measured once, for issue 14 (filed 2026-11-27 at the latest), on this machine: 2-core x86_64
AMD EPYC, PostgreSQL 15 with its defaults (`autovacuum = off`), the old system's
recalculation workflow called in-process, same data as `bench/slices.py` (250 units, 50,000
entries, every EF doubled and then recalculated), the recalculation job's own time only.
The old system is not installed here, so these are constants, not re-measured per run:
compare them with our figures of the same day and read the ratio as ±20 % (the disk of this
machine moves that much between runs, docs/performance.md).
"""

from __future__ import annotations

MEASURED = "for issue 14, on or before 2026-11-27"
MACHINE = "2-core x86_64 AMD EPYC, PostgreSQL 15 defaults (autovacuum off)"

# `it`: 50,000 entries over 60 factors, 1 emission row each.
IT_ENTRIES_PER_S = 7_054.0
# `member`: 50,000 entries over 24 factors, 24-25 emission rows each.
MEMBER_ROWS_PER_S = 10_639.0

SLICE_ENTRIES = 50_000


def ratio(name: str, entries_per_s: float, rows_per_s: float) -> float:
    """Ours against the old system on a slice, by the unit it was measured in: entries/s for
    `it` (one row per entry), emission rows/s for `member`."""
    if name == "it":
        return entries_per_s / IT_ENTRIES_PER_S
    if name == "member":
        return rows_per_s / MEMBER_ROWS_PER_S
    raise ValueError(f"no old-system figure for slice {name!r}")
