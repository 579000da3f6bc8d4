"""`python -m bench.stress --entries 8000000`: the anchor's stress size, end to end, once.

Issue 14 asks for it as a one-off (not in CI): seed the year through the real ingest path,
then recalculate every type of every module with 2 worker processes (trigger → every
emission row rewritten → statistics fresh) and report the time and the peak RSS of every
pool child (children replaced during the run included). No floors and no per-entry loop:
at 8M entries the floors alone hold ~21M rows in the bench process and take longer than
the pipeline; `python -m bench` prints them at 1M.

Writes bench/results/stress.json (`--out`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench import services
from bench.__main__ import _seed, load_average


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.stress", description=__doc__)
    p.add_argument("--entries", type=int, default=8_000_000)
    p.add_argument("--units", type=int, default=500)
    p.add_argument("--year", type=int, default=2025)
    p.add_argument("--chunk-size", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--database-url",
                   default="postgresql+psycopg2://postgres@127.0.0.1:5432/carbon_stress")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    p.add_argument("--reuse", action="store_true",
                   help="reuse the seeded database when it holds the same seed")
    p.add_argument("--out", type=Path, default=Path("bench/results/stress.json"))
    a = p.parse_args(argv)
    if a.entries < 1000 or a.workers < 1 or a.chunk_size < 1:
        p.error("--entries must be ≥ 1000, --workers and --chunk-size ≥ 1")
    return a


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bench.floor import emission_totals
    from bench.pipeline_run import run_pipeline

    a = parse(argv)
    services.configure(a.database_url, a.redis_url, a.chunk_size)
    log = a.out.parent / "stress-workers.log"
    report: dict[str, Any] = {"entries": a.entries, "chunk_size": a.chunk_size,
                              "workers": a.workers,
                              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "load_average_start": load_average()}
    print(f"seeding {a.entries:,} entries (reuse={a.reuse}) …", flush=True)
    report["seed"] = _seed(a, log)
    print(f"  {report['seed']}", flush=True)
    # What a deployment's autovacuum does after the seed's bulk load (untimed).
    report["vacuum_s"] = services.vacuum_analyze_if_no_autovacuum(a.database_url)
    with services.Workers(a.workers, log) as workers:
        print(f"pipeline with {a.workers} worker process(es) …", flush=True)
        run = run_pipeline(a.year, a.workers)
        run["peak_rss_mb"] = workers.peak_rss_mb()
        # Every pool child the run had, replaced ones included (bench/services.py samples).
        run["child_peaks_mb"] = sorted(round(mb, 1) for mb in workers.child_peaks_mb().values())
    rows, kg = emission_totals(a.database_url, a.year)
    run.update(rows=rows, kg=kg, rows_per_s=rows / run["seconds"],
               entries_per_s=a.entries / run["seconds"])
    report["pipeline"] = run
    report["load_average_end"] = load_average()
    print(f"{a.entries:,} entries → {rows:,} rows in {run['seconds']:.1f} s"
          f" ({run['rows_per_s']:,.0f} rows/s), statuses {sorted(set(run['statuses']))},"
          f" peak RSS {run['peak_rss_mb']} MB (children {run['child_peaks_mb']}), aggregation share"
          f" {run['aggregation_share']:.1%}, load {report['load_average_start']} →"
          f" {report['load_average_end']}", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"written {a.out}")
    return report


if __name__ == "__main__":
    main()
