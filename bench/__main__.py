"""`python -m bench --entries 1000000`: the pipeline against the I/O floor and the per-entry
loop, in the same run, on PostgreSQL + Redis with real worker processes.

Prints a table and writes JSON (default bench/results/latest.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import services


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
    p.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    a = p.parse_args(argv)
    if a.entries < 1000 or a.sample < 1 or a.chunk_size < 1:
        p.error("--entries must be ≥ 1000, --sample and --chunk-size ≥ 1")
    return a


def _seed(a: argparse.Namespace, log: Path) -> dict[str, Any]:
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope
    from carbon_domain.seed.generator import generate
    from carbon_tasks.seeding import load_seed

    marker = f"{a.entries}:{a.units}:{a.year}"
    if a.reuse and services.database_exists(a.database_url):
        try:
            with session_scope() as s:
                found = s.execute(text("SELECT marker FROM bench_seed")).scalar()
            if found == marker:
                return {"reused": True, "seconds": 0.0}
        except Exception:  # noqa: BLE001 - no marker table: seed afresh
            pass
    services.recreate_database(a.database_url)
    out_dir = Path(".carbon") / "bench-seed" / f"{a.year}-{a.entries}-{a.units}"
    t0 = time.perf_counter()
    manifest = generate(out_dir, units=a.units, entries=a.entries, year=a.year)
    gen_s = time.perf_counter() - t0
    with services.Workers(2, log):
        t1 = time.perf_counter()
        result = load_seed(manifest, year=a.year, created_by="bench")
        load_s = time.perf_counter() - t1
    if not result.ok:
        raise SystemExit("seeding failed: " + "; ".join(
            f"{f.file.path}: {f.status}" for f in result.files if f.status != "SUCCESS"))
    with session_scope() as s:
        s.execute(text("CREATE TABLE bench_seed (marker text)"))
        s.execute(text("INSERT INTO bench_seed VALUES (:m)"), {"m": marker})
    return {"reused": False, "generate_s": gen_s, "load_s": load_s}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parse(sys.argv[1:] if argv is None else argv)
    services.configure(a.database_url, a.redis_url, a.chunk_size)
    from bench.baseline import run_baseline
    from bench.floor import compute_rows, emission_totals, run_floor
    from bench.ingest_speed import run_ingest
    from bench.pipeline_run import run_pipeline

    log = a.out.parent / "workers.log"
    report: dict[str, Any] = {"entries": a.entries, "units": a.units, "year": a.year,
                              "chunk_size": a.chunk_size, "machine": platform.machine(),
                              "python": platform.python_version()}
    print(f"seeding {a.entries:,} entries …", flush=True)
    report["seed"] = _seed(a, log)

    print("floor: computing the rows (untimed) …", flush=True)
    rows, n_rows, kg = compute_rows(a.database_url, a.year)
    report["rows"] = n_rows
    floor = run_floor(a.database_url, a.year, rows)
    floor["rows_per_s"] = n_rows / floor["seconds"]
    floor_count, floor_kg = emission_totals(a.database_url, a.year)
    floor.update(check_rows=floor_count, check_kg=floor_kg)
    report["floor"] = floor
    print(f"floor: {floor['seconds']:.2f} s ({floor['rows_per_s']:,.0f} rows/s)", flush=True)

    print(f"per-entry loop on {a.sample:,} entries …", flush=True)
    report["baseline"] = run_baseline(a.database_url, a.year, a.sample)

    report["pipeline"] = {}
    for w in [int(x) for x in a.workers.split(",") if x.strip()]:
        with services.Workers(w, log) as workers:
            print(f"pipeline with {w} worker process(es) …", flush=True)
            run = run_pipeline(a.year, w)
            run["peak_rss_mb"] = workers.peak_rss_mb()
        count, total = emission_totals(a.database_url, a.year)
        run["rows"] = count
        run["kg"] = total
        run["same_rows_as_floor"] = count == floor_count and abs(total - floor_kg) <= 1e-6 * max(
            1.0, abs(floor_kg))
        run["rows_per_s"] = count / run["seconds"]
        run["entries_per_s"] = a.entries / run["seconds"]
        run["vs_floor"] = run["seconds"] / floor["seconds"]
        run["vs_baseline"] = run["entries_per_s"] / report["baseline"]["entries_per_s"]
        report["pipeline"][str(w)] = run
    if not a.skip_ingest:
        from carbon_domain.db.session import session_scope
        from sqlalchemy import text
        with session_scope() as s:
            units = [u for (u,) in s.execute(text(
                "SELECT institutional_id FROM units WHERE institutional_id IS NOT NULL"
                " AND level = 4 LIMIT 200"))]
        from carbon_tasks.operations import start_upload
        from carbon_tasks.waiting import wait_for_pipeline
        with services.Workers(2, log):
            # Units keep their codes; the upload creates next year's reports for them.
            wait_for_pipeline(start_upload("units", _units_for(units, a.year + 1),
                                           year=a.year + 1, created_by="bench").pipeline_id)
            report["ingest"] = run_ingest(a.year, units)
    _print(report)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"written {a.out}")
    ok = all(r["same_rows_as_floor"] for r in report["pipeline"].values())
    if not ok:
        raise SystemExit("pipeline rows differ from the floor's rows")
    return report


def _units_for(unit_ids: list[str], year: int) -> bytes:
    from carbon_domain.db.session import session_scope
    from sqlalchemy import bindparam, text

    with session_scope() as s:
        rows = s.execute(text(
            "SELECT institutional_code, institutional_id, name, level FROM units WHERE"
            " institutional_id IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": unit_ids}).all()
    body = "institutional_code,institutional_id,name,level,parent_institutional_code\n"
    body += "".join(f"{c},{i},\"{n}\",{lv},\n" for c, i, n, lv in rows)
    return body.encode()


def _print(r: dict[str, Any]) -> None:
    f, b = r["floor"], r["baseline"]
    print()
    print(f"entries {r['entries']:,}  emission rows {r['rows']:,}  chunk size {r['chunk_size']:,}")
    print(f"{'':28}{'seconds':>10}{'rows/s':>12}{'entries/s':>12}")
    print(f"{'I/O floor (COPY)':28}{f['seconds']:>10.2f}{f['rows_per_s']:>12,.0f}"
          f"{r['entries'] / f['seconds']:>12,.0f}")
    print(f"{'per-entry loop (sample)':28}{b['seconds']:>10.2f}"
          f"{b['rows'] / b['seconds']:>12,.0f}{b['entries_per_s']:>12,.0f}")
    for w, p in r["pipeline"].items():
        print(f"{'pipeline, ' + w + ' worker process(es)':28}{p['seconds']:>10.2f}"
              f"{p['rows_per_s']:>12,.0f}{p['entries_per_s']:>12,.0f}")
        print(f"    pipeline/floor {p['vs_floor']:.2f}×   vs per-entry {p['vs_baseline']:.0f}×"
              f"   fan-out overhead {p['fanout_overhead']:.1%}   chunks {p['chunks']}"
              f"   peak RSS {p['peak_rss_mb']}   same rows as floor: {p['same_rows_as_floor']}")
    if "ingest" in r:
        i = r["ingest"]
        print(f"ingest: 25k factor rows {i['factor_job_s']:.2f} s (job), "
              f"100k entry rows {i['entry_ingest_job_s']:.2f} s (job), "
              f"{i['entry_pipeline_s']:.2f} s with recalculation and aggregation")


if __name__ == "__main__":
    main()
