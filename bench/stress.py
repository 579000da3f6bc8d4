"""`python -m bench.stress --entries 8000000`: the anchor's stress size, end to end (once;
`--repeat N` for more).

Issue 14 asks for it as a one-off (not in CI): seed the year through the real ingest path,
then recalculate every type of every module with 2 worker processes (trigger → every
emission row rewritten → statistics fresh) and report the time and the peak RSS of every
pool child (children replaced during the run included). No floors and no per-entry loop:
at 8M entries the floors alone hold ~21M rows in the bench process and take longer than
the pipeline; `python -m bench` prints them at 1M.

Writes the whole report to bench/results/stress.json (`--out`) and merges part ``stress``
into bench/results/latest.json (`--results`): ``stress_8m_s`` (keys named by the size) and
``stress_vs_1m`` (over the 2-worker time of a `python -m bench --entries 1000000` run of the
same day in that file, else null). Exact: every run must leave the rows the seed's ingest
computed (count and total kg), every pipeline SUCCESS.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench import results, services
from bench.results import load_average
from bench.seed_db import seed
from bench.timed_runs import repeat


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
    p.add_argument("--repeat", type=int, default=1,
                   help="timed runs (median, min, max); 1 at 8M, where one takes minutes")
    p.add_argument("--warmup", action="store_true",
                   help="one untimed run on the started workers first (a whole extra run)")
    p.add_argument("--out", type=Path, default=Path("bench/results/stress.json"))
    p.add_argument("--results", type=Path, default=Path("bench/results/latest.json"),
                   help="results file the stress keys are merged into (bench/results.py)")
    a = p.parse_args(argv)
    if a.entries < 1000 or a.workers < 1 or a.chunk_size < 1 or a.repeat < 1:
        p.error("--entries must be ≥ 1000, --workers, --chunk-size and --repeat ≥ 1")
    return a


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bench.floor import emission_totals, totals_by_type, types_differing
    from bench.pipeline_run import run_pipeline

    a = parse(argv)
    services.configure(a.database_url, a.redis_url, a.chunk_size)
    log = a.out.parent / "stress-workers.log"
    load0 = load_average()
    report: dict[str, Any] = {"entries": a.entries, "chunk_size": a.chunk_size,
                              "workers": a.workers, "repeat": a.repeat, "warmup": a.warmup,
                              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "load_average_start": load0}
    print(f"seeding {a.entries:,} entries (reuse={a.reuse}) …", flush=True)
    report["seed"] = seed(a, log)
    print(f"  {report['seed']}", flush=True)
    # The rows the seed's ingest computed: a full recalculation must leave exactly these.
    # (A reused database whose `it` rows an incremental revision rewrote holds stale research
    # facility rows, types 70/71: the full recalculation changes those, and this says so.)
    before = totals_by_type(a.database_url, a.year)

    from sqlalchemy.engine import make_url

    from bench.cpu_split import CpuSplit
    database = str(make_url(a.database_url).database)

    def one_run(workers: services.Workers) -> dict[str, Any]:
        with CpuSplit(database, workers.pids) as split:
            run = run_pipeline(a.year, a.workers)
        run["cpu"] = split.result()
        run["rows"], run["kg"] = emission_totals(a.database_url, a.year)
        run["types_changed"] = types_differing(totals_by_type(a.database_url, a.year), before)
        run["same_rows_as_before"] = not run["types_changed"]
        return run

    with services.Workers(a.workers, log) as workers:
        print(f"pipeline with {a.workers} worker process(es) …", flush=True)
        run = repeat(lambda: one_run(workers), times=a.repeat, warmup=a.warmup,
                     database_url=a.database_url, label=f"stress {a.workers}w")
        run["peak_rss_mb"] = workers.peak_rss_mb()
        # Every pool child the run had, replaced ones included (bench/services.py samples).
        run["child_peaks_mb"] = sorted(round(mb, 1) for mb in workers.child_peaks_mb().values())
    run.update(rows_per_s=run["rows"] / run["seconds"],
               entries_per_s=a.entries / run["seconds"],
               all_success=all(set(r["statuses"]) == {"SUCCESS"} for r in run["runs"]),
               same_rows_as_before=all(r["same_rows_as_before"] for r in run["runs"]))
    report["pipeline"] = run
    report["rows_before"] = sum(n for n, _ in before.values())
    report["kg_before"] = sum(kg for _, kg in before.values())
    report["load_average_end"] = load_average()
    print(f"{a.entries:,} entries → {run['rows']:,} rows in {run['seconds']:.1f} s"
          f" ({run['rows_per_s']:,.0f} rows/s), runs {run['runs_s']} s, statuses"
          f" {sorted(set(run['statuses']))}, same rows as the seed's: {run['same_rows_as_before']},"
          f" peak RSS {run['peak_rss_mb']} MB (children {run['child_peaks_mb']}), aggregation"
          f" share {run['aggregation_share']:.1%}, load {load0} → {report['load_average_end']},"
          f" CPU {run['cpu']}", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2, default=str))
    keys = part_keys(report, results.read(a.results))
    merged = results.write(a.results, {"stress": keys}, results.meta(load0))
    print(f"written {a.out}; merged part stress into {a.results}:"
          f" {({k: v for k, v in keys.items() if k != 'stress'})}")
    if not (run["all_success"] and run["same_rows_as_before"]):
        raise SystemExit("stress: a pipeline did not succeed or the rows changed (types"
                         f" {sorted({t for r in run['runs'] for t in r['types_changed']})})")
    return merged


def part_keys(report: dict[str, Any], latest: dict[str, Any]) -> dict[str, Any]:
    """The stress part's keys in bench/results/latest.json: ``stress_<size>_s`` (median),
    ``stress_vs_1m`` against the same day's 1M run, min/max, RSS and the checks."""
    run = report["pipeline"]
    label = results.size_label(report["entries"])
    keys = results.stress_keys(report["entries"], run["seconds"], latest,
                               report["date"][:10])
    keys.update({"stress": report, "stress_entries": report["entries"],
                 f"stress_{label}_min_s": run["min_s"], f"stress_{label}_max_s": run["max_s"],
                 "stress_child_peak_rss_mb": run["peak_rss_mb"].get("child_max"),
                 "stress_all_success": run["all_success"],
                 "stress_cpu": run.get("cpu"),
                 "stress_same_rows_as_before": run["same_rows_as_before"]})
    return keys


if __name__ == "__main__":
    main()
