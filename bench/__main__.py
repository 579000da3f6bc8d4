"""`python -m bench --entries 1000000`: the pipeline against the I/O floor and the per-entry
loop, in the same run, on PostgreSQL + Redis with real worker processes.

Prints a table and merges its figures into bench/results/latest.json (`--out`; the keys of
parts not run this time are kept, bench/results.py). Each setting is timed `--repeat` times
(default 3) on warm workers after a VACUUM ANALYZE, median with min and max
(bench/timed_runs.py). docs/performance.md, "How the bench measures", lists flags and keys.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench import results, services
from bench.results import load_average

__all__ = ["load_average", "main"]


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument("--units", type=int, default=500)
    p.add_argument("--year", type=int, default=2025)
    p.add_argument("--chunk-size", type=int, default=10_000)
    p.add_argument("--workers", default="1,2", help="worker process counts to run")
    p.add_argument("--sample", type=int, default=5000, help="entries of the per-entry loop")
    p.add_argument("--database-url",
                   default="postgresql+psycopg2://postgres@127.0.0.1:5432/carbon_bench")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    p.add_argument("--reuse", action="store_true",
                   help="reuse the seeded database when it holds the same seed")
    p.add_argument("--skip-ingest", action="store_true", help="skip the ingest-speed part")
    p.add_argument("--skip-incremental", action="store_true",
                   help="skip the full `it` slice / one-factor revision part")
    p.add_argument("--only-incremental", action="store_true",
                   help="only seed (or --reuse) and the full `it` slice / one-factor part")
    p.add_argument("--slice", choices=("it", "member"),
                   help="only the old system's side-by-side slice (own database)")
    p.add_argument("--slice-entries", type=int, default=50_000,
                   help="entries of the --slice (the old system's figures are at 50,000)")
    p.add_argument("--repeat", type=int, default=3,
                   help="timed runs per setting (median, min, max reported)")
    p.add_argument("--no-warmup", dest="warmup", action="store_false",
                   help="no untimed warm-up run on the started workers before the timed ones")
    p.add_argument("--out", type=Path, default=Path("bench/results/latest.json"),
                   help="results file the figures are merged into")
    a = p.parse_args(argv)
    if a.slice:
        a.database_url = a.database_url.rsplit("/", 1)[0] + "/" + (
            a.database_url.rsplit("/", 1)[1] + f"_slice_{a.slice}")
    if a.entries < 1000 or a.sample < 1 or a.chunk_size < 1 or a.repeat < 1:
        p.error("--entries must be ≥ 1000, --sample, --chunk-size and --repeat ≥ 1")
    if a.slice_entries < 250:
        p.error("--slice-entries must be ≥ 250 (one entry per unit at least)")
    return a


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parse(sys.argv[1:] if argv is None else argv)
    services.configure(a.database_url, a.redis_url, a.chunk_size)
    log = a.out.parent / "workers.log"
    load0 = load_average()
    if a.slice:
        # operator_wait: CLI start-up, `carbon recalc … --wait`, the console's click
        from bench import operator_wait, slices

        parts = {f"slice_{a.slice}": slices.top_keys(slices.run_slice(a.slice, a, log))}
        wait = operator_wait.run(a.slice, a.year, a.repeat, log)
        parts[f"operator_wait_{a.slice}"] = operator_wait.top_keys(a.slice, wait)
    else:
        from bench.full_run import run_full

        parts = run_full(a, log)
    run_meta = results.meta(load0)
    view = {k: v for keys in parts.values() for k, v in keys.items()}
    _print(view, run_meta)
    merged = results.write(a.out, parts, run_meta)
    print(f"merged parts {list(parts)} into {a.out}")
    failed = [k for k in EXACTNESS if view.get(k) is False]
    if failed:
        raise SystemExit(f"exactness check failed: {failed}")
    return merged


# Each part's exactness check: the bench exits non-zero when one of those it ran is False.
EXACTNESS = ("same_rows_as_floor", "all_pipelines_success", "incremental_same_rows_as_full",
             "incremental_facility_same_as_full", "incremental_facility_factors_as_rows",
             "slice_it_same_totals", "slice_member_same_totals")


def _print_incremental(r: dict[str, Any]) -> None:
    if "incremental" in r:
        inc = r["incremental"]
        print(f"full `it` slice {inc['full_it_slice']['seconds']:.2f} s   one `it` factor"
              f" revised {inc['one_factor']['seconds']:.2f} s"
              f" ({inc['one_factor']['entries_recalculated']:,} entries recalculated;"
              f" same rows as full: {inc['one_factor']['same_rows_as_full']})")


def _print(r: dict[str, Any], m: dict[str, Any]) -> None:
    print()
    print(f"load average {m['load_average'][0]} → {m['load_average'][1]} ({m['cpus']} cpus)"
          f"   {m['date']}   commit {m['commit']}")
    if "slice" in r:
        s = r[f"slice_{r['slice']}"]
        for k in ("1w", "2w"):
            if k in s:
                v = s[k]
                print(f"slice {s['slice']} {k}: {v['seconds']:.2f} s median"
                      f" ({v['min_s']:.2f}–{v['max_s']:.2f})  {v['entries']:,} entries"
                      f"  {v['entries_per_s']:,.0f} entries/s  {v['rows_per_s']:,.0f} rows/s"
                      f"  {v['vs_old_system']:.1f}× the old system")
        return
    if "hardware_floor" not in r:  # --only-incremental
        _print_incremental(r)
        return
    hw, f, b = r["hardware_floor"], r["floor"], r["baseline"]
    print(f"entries {r['entries']:,}  emission rows {r['rows']:,}  chunk size {r['chunk_size']:,}")
    print(f"{'':30}{'seconds':>10}{'rows/s':>12}{'entries/s':>12}{'vs hw floor':>13}")
    print(f"{'hardware floor (COPY, no FK)':30}{hw['seconds']:>10.2f}{hw['rows_per_s']:>12,.0f}"
          f"{r['entries'] / hw['seconds']:>12,.0f}{1.0:>12.2f}×")
    print(f"{'FK floor (DELETE + COPY)':30}{f['seconds']:>10.2f}{f['rows_per_s']:>12,.0f}"
          f"{r['entries'] / f['seconds']:>12,.0f}{f['seconds'] / hw['seconds']:>12.2f}×")
    print(f"{'per-entry loop (sample)':30}{b['seconds']:>10.2f}"
          f"{b['rows'] / b['seconds']:>12,.0f}{b['entries_per_s']:>12,.0f}")
    for w, p in r["pipeline"].items():
        print(f"{'pipeline, ' + w + ' worker process(es)':30}{p['seconds']:>10.2f}"
              f"{p['rows_per_s']:>12,.0f}{p['entries_per_s']:>12,.0f}"
              f"{p['vs_hardware_floor']:>12.2f}×")
        print(f"    median of {len(p['runs_s'])}: runs {p['runs_s']} s (min {p['min_s']:.2f},"
              f" max {p['max_s']:.2f}); hardware floor runs {hw['runs_s']} s")
        print(f"    vs FK floor {p['vs_floor']:.2f}×   vs per-entry {p['vs_baseline']:.0f}×"
              f"   aggregation {p['aggregation_share']:.1%}   orchestration"
              f" {p['orchestration_overhead']:.1%}   chunks {p['chunks']}"
              f"   peak RSS {p['peak_rss_mb']}   same rows as floor: {p['same_rows_as_floor']}")
        if "cpu" in p:
            c = p["cpu"]
            print(f"    CPU of the median run (core-seconds of {c['cores_s']:.1f}): workers"
                  f" {c['workers_cpu_s']:.1f}, PostgreSQL backends {c['postgres_cpu_s']:.1f},"
                  f" idle {c['idle_core_s']:.1f}, other {c['other_cpu_s']:.1f}")
    _print_incremental(r)
    if "ingest" in r:
        i = r["ingest"]
        print(f"ingest: 25k factor rows {i['factor_job_s']:.2f} s (job), "
              f"100k entry rows {i['entry_ingest_job_s']:.2f} s (job), "
              f"{i['entry_pipeline_s']:.2f} s with recalculation and aggregation")


if __name__ == "__main__":
    main()
