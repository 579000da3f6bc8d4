"""How every setting of the bench is timed: warm workers, a vacuumed database, N runs.

- **Warm**: the caller starts the worker processes once per setting and reuses them for
  every run; one untimed warm-up run first pays what a deployment pays once (pool children
  opening their database and broker connections, first imports, first plans).
- **Vacuumed**: before each timed run, `VACUUM ANALYZE` of the tables the previous run
  touched, untimed, when the server runs without autovacuum (this machine's PostgreSQL):
  otherwise run k meets the dead rows of runs 1..k-1 (1.2M dead rows met by the slice's
  2-process run) and plans from stale statistics.
- **N runs** (`--repeat`, default 3): the figure is the median, with min and max beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench import services
from bench.results import median_run, summary


def repeat(run: Callable[[], dict[str, Any]], *, times: int, warmup: bool,
           database_url: str, label: str, key: str = "seconds") -> dict[str, Any]:
    """``run()`` once untimed (``warmup``), then ``times`` times after a vacuum. Returns the
    median run's own figures with ``seconds`` (or ``key``) replaced by the median, and
    ``min_s``, ``max_s``, ``runs_s``, ``warmup_s``, ``vacuum_s`` (one per timed run) and
    ``runs`` (every run's dict)."""
    warm_s = None
    if warmup:
        t0 = time.perf_counter()
        run()
        warm_s = time.perf_counter() - t0
        print(f"  {label}: warm-up run {warm_s:.2f} s (untimed)", flush=True)
    runs: list[dict[str, Any]] = []
    vacuum_s: list[float | None] = []
    for i in range(times):
        vac = services.vacuum_analyze_touched(database_url)
        vacuum_s.append(None if vac is None else round(vac["seconds"], 3))
        r = run()
        runs.append(r)
        print(f"  {label}: run {i + 1}/{times} {r[key]:.2f} s"
              + ("" if vac is None else f" (after VACUUM ANALYZE of {len(vac['tables'])}"
                 f" tables, {vac['seconds']:.1f} s untimed)"), flush=True)
    s = summary(r[key] for r in runs)
    out = dict(median_run(runs, key))
    out.update({key: s["median"], "min_s": s["min"], "max_s": s["max"],
                "runs_s": [round(v, 3) for v in s["runs"]], "warmup_s": warm_s,
                "vacuum_s": vacuum_s, "runs": runs})
    return out
