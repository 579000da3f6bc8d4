"""`python -m bench --entries 1000000`: the pipeline against the I/O floor and the per-entry
loop, in the same run, on PostgreSQL + Redis with real worker processes.

Prints a table and writes JSON (default bench/results/latest.json).
"""

from __future__ import annotations

import argparse
import json
import os
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
    p.add_argument("--skip-incremental", action="store_true",
                   help="skip the full `it` slice / one-factor revision part")
    p.add_argument("--only-incremental", action="store_true",
                   help="only seed (or --reuse) and the full `it` slice / one-factor part")
    p.add_argument("--slice", choices=("it", "member"),
                   help="only the old system's side-by-side slice (own database)")
    p.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    a = p.parse_args(argv)
    if a.slice:
        a.database_url = a.database_url.rsplit("/", 1)[0] + "/" + (
            a.database_url.rsplit("/", 1)[1] + f"_slice_{a.slice}")
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


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parse(sys.argv[1:] if argv is None else argv)
    services.configure(a.database_url, a.redis_url, a.chunk_size)
    log = a.out.parent / "workers.log"
    report: dict[str, Any] = {"entries": a.entries, "units": a.units, "year": a.year,
                              "chunk_size": a.chunk_size, "machine": platform.machine(),
                              "cpus": os.cpu_count(), "python": platform.python_version(),
                              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "load_average_start": load_average()}
    if a.slice:
        from bench.slices import run_slice

        report["slice_run"] = run_slice(a.slice, a, log)
        _slice_keys(report)
        from bench import operator_wait  # CLI start-up, recalc --wait, console click

        report["operator_wait"] = operator_wait.run(a.slice, a.year, 5, log)
        report.update(operator_wait.top_keys(a.slice, report["operator_wait"]))
    else:
        _full_run(a, report, log)
    report["load_average_end"] = load_average()
    _print(report)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"written {a.out}")
    if not report.get("same_rows_as_floor", True):
        raise SystemExit("pipeline rows differ from the floor's rows")
    return report


def _full_run(a: argparse.Namespace, report: dict[str, Any], log: Path) -> None:
    from bench.baseline import run_baseline
    from bench.floor import (
        compute_rows,
        emission_totals,
        run_fk_floor,
        run_hardware_floor,
        same_totals,
    )
    from bench.ingest_speed import run_ingest
    from bench.pipeline_run import run_pipeline

    print(f"seeding {a.entries:,} entries …", flush=True)
    report["seed"] = _seed(a, log)
    if a.only_incremental:
        _incremental(a, report, log)
        one = report["incremental"]
        report.update({"incremental_one_factor_s": one["one_factor"]["seconds"],
                       "preview_one_factor_s": one["preview"]["seconds"],
                       "preview_one_factor_one_process_s": one["preview"]["one_process_s"],
                       "full_it_slice_s": one["full_it_slice"]["seconds"],
                       "same_rows_as_floor": one["one_factor"]["same_rows_as_full"]})
        return

    print("floors: computing the rows (untimed) …", flush=True)
    rows, n_rows, kg = compute_rows(a.database_url, a.year)
    report["rows"] = n_rows
    report["engine_kg"] = kg
    hw = run_hardware_floor(a.database_url, a.year, rows)
    fk = run_fk_floor(a.database_url, a.year, rows)
    del rows
    for f in (hw, fk):
        f["rows_per_s"] = n_rows / f["seconds"]
    report["hardware_floor"], report["floor"] = hw, fk
    print(f"hardware floor: {hw['seconds']:.2f} s ({hw['rows_per_s']:,.0f} rows/s);"
          f" FK floor: {fk['seconds']:.2f} s ({fk['rows_per_s']:,.0f} rows/s)", flush=True)
    floor_totals = (int(hw["check_rows"]), float(hw["check_kg"]))

    print(f"per-entry loop on {a.sample:,} entries …", flush=True)
    report["baseline"] = run_baseline(a.database_url, a.year, a.sample)

    report["pipeline"] = {}
    for w in [int(x) for x in a.workers.split(",") if x.strip()]:
        # Each full run leaves 2.7M dead rows at 1M entries; a deployment's autovacuum
        # would clean and analyze them between two runs minutes apart (untimed).
        vacuum_s = services.vacuum_analyze_if_no_autovacuum(a.database_url)
        if vacuum_s is not None:
            print(f"  autovacuum is off on this server: VACUUM ANALYZE first"
                  f" ({vacuum_s:.1f} s, untimed)", flush=True)
        with services.Workers(w, log) as workers:
            print(f"pipeline with {w} worker process(es) …", flush=True)
            run = run_pipeline(a.year, w)
            run["peak_rss_mb"] = workers.peak_rss_mb()
            run["load_average"] = load_average()
        count, total = emission_totals(a.database_url, a.year)
        run["rows"] = count
        run["kg"] = total
        run["same_rows_as_floor"] = same_totals((count, total), floor_totals)
        run["rows_per_s"] = count / run["seconds"]
        run["entries_per_s"] = a.entries / run["seconds"]
        run["vs_hardware_floor"] = run["seconds"] / hw["seconds"]
        run["vs_floor"] = run["seconds"] / fk["seconds"]
        run["vs_baseline"] = run["entries_per_s"] / report["baseline"]["entries_per_s"]
        report["pipeline"][str(w)] = run
        print(f"  {run['seconds']:.2f} s = {run['vs_hardware_floor']:.2f}× hardware floor,"
              f" same rows as floor: {run['same_rows_as_floor']}", flush=True)
    if not a.skip_incremental:
        _incremental(a, report, log)
    if not a.skip_ingest:
        from sqlalchemy import text

        from carbon_domain.db.session import session_scope
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
    _top_keys(report)


def _incremental(a: argparse.Namespace, report: dict[str, Any], log: Path) -> None:
    from bench import incremental
    from bench.floor import emission_totals, same_totals

    factor_file = (Path(".carbon") / "bench-seed" / f"{a.year}-{a.entries}-{a.units}"
                   / "factors" / "11_it.csv")
    vacuum_s = services.vacuum_analyze_if_no_autovacuum(a.database_url)
    if vacuum_s is not None:
        print(f"  autovacuum is off on this server: VACUUM ANALYZE first ({vacuum_s:.1f} s,"
              " untimed)", flush=True)
    with services.Workers(2, log) as workers:
        print("full `it` slice, 2 worker processes …", flush=True)
        full = incremental.full_it_slice(a.year)
        print("impact preview of one revised `it` factor (chunked, then in one process,"
              " twice) …", flush=True)
        runs = [incremental.preview_one_factor(a.year, factor_file, chunked=c)
                for c in (True, False, True, False)]
        preview = min((r for r in runs if r["chunked"]), key=lambda r: r["seconds"])
        preview["one_process_s"] = min(r["seconds"] for r in runs if not r["chunked"])
        preview["runs_s"] = [(r["chunked"], round(r["seconds"], 3)) for r in runs]
        print("one `it` factor revised (recalculate=true) …", flush=True)
        one = incremental.one_factor_revision(a.year, factor_file)
        full["peak_rss_mb"] = workers.peak_rss_mb()
    expected = incremental.expected_it_totals(a.year)
    got = emission_totals(a.database_url, a.year, incremental.IT_DET)
    one["same_rows_as_full"] = same_totals(got, expected)
    report["incremental"] = {"full_it_slice": full, "one_factor": one, "preview": preview,
                             "it_entries": _it_entries(a.year),
                             "vacuum_analyze_s": vacuum_s}
    print(f"  full it slice {full['seconds']:.2f} s; one factor {one['seconds']:.2f} s"
          f" ({one['entries_recalculated']:,} entries); same rows as a full recalculation:"
          f" {one['same_rows_as_full']}; its preview {preview['seconds']:.2f} s"
          f" ({preview['entries_computed']:,} entries computed; in one process"
          f" {preview['one_process_s']:.2f} s)", flush=True)
    for line in one["timeline"]:
        print("    " + line)


def _it_entries(year: int) -> int:
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope
    with session_scope() as s:
        return int(s.execute(text("SELECT count(*) FROM data_entries WHERE year = :y AND"
                                  " data_entry_type_id = 11"), {"y": year}).scalar() or 0)


def _top_keys(r: dict[str, Any]) -> None:
    """The flat keys issue 14 compares runs by."""
    pipes = r["pipeline"]
    two = pipes.get("2") or next(iter(pipes.values()))
    inc = r.get("incremental", {})
    r.update({
        "hardware_floor_s": r["hardware_floor"]["seconds"],
        "fk_floor_s": r["floor"]["seconds"],
        "per_entry_rows_per_s": r["baseline"]["rows"] / r["baseline"]["seconds"],
        "pipeline_1w_s": pipes["1"]["seconds"] if "1" in pipes else None,
        "pipeline_2w_s": pipes["2"]["seconds"] if "2" in pipes else None,
        "vs_hardware_floor": two["vs_hardware_floor"],
        "vs_per_entry": two["vs_baseline"],
        "aggregation_share": two["aggregation_share"],
        "orchestration_share": two["orchestration_overhead"],
        "incremental_one_factor_s": inc.get("one_factor", {}).get("seconds"),
        "full_it_slice_s": inc.get("full_it_slice", {}).get("seconds"),
        "preview_one_factor_s": inc.get("preview", {}).get("seconds"),
        "preview_one_factor_one_process_s": inc.get("preview", {}).get("one_process_s"),
        "child_peak_rss_mb": max(p["peak_rss_mb"].get("child_max", 0.0) for p in pipes.values()),
        "same_rows_as_floor": all(p["same_rows_as_floor"] for p in pipes.values())
        and inc.get("one_factor", {}).get("same_rows_as_full", True),
    })


def _slice_keys(r: dict[str, Any]) -> None:
    s = r["slice_run"]
    r.update({
        "slice": s["slice"],
        "slice_entries_per_s_1w": s.get("1w", {}).get("entries_per_s"),
        "slice_entries_per_s_2w": s.get("2w", {}).get("entries_per_s"),
        "slice_rows_per_s_2w": s.get("2w", {}).get("rows_per_s"),
        "child_peak_rss_mb": max((v["peak_rss_mb"].get("child_max", 0.0)
                                  for k, v in s.items() if k.endswith("w")), default=None),
    })


def _units_for(unit_ids: list[str], year: int) -> bytes:
    from sqlalchemy import bindparam, text

    from carbon_domain.db.session import session_scope

    with session_scope() as s:
        rows = s.execute(text(
            "SELECT institutional_code, institutional_id, name, level FROM units WHERE"
            " institutional_id IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": unit_ids}).all()
    body = "institutional_code,institutional_id,name,level,parent_institutional_code\n"
    body += "".join(f"{c},{i},\"{n}\",{lv},\n" for c, i, n, lv in rows)
    return body.encode()


def _print_incremental(r: dict[str, Any]) -> None:
    if "incremental" in r:
        inc = r["incremental"]
        print(f"full `it` slice {inc['full_it_slice']['seconds']:.2f} s   one `it` factor"
              f" revised {inc['one_factor']['seconds']:.2f} s"
              f" ({inc['one_factor']['entries_recalculated']:,} entries recalculated;"
              f" same rows as full: {inc['one_factor']['same_rows_as_full']})")


def _print(r: dict[str, Any]) -> None:
    print()
    print(f"load average {r['load_average_start']} → {r['load_average_end']}"
          f" ({r['cpus']} cpus)   {r['date']}")
    if "slice_run" in r:
        s = r["slice_run"]
        for k in ("1w", "2w"):
            if k in s:
                v = s[k]
                print(f"slice {s['slice']} {k}: {v['seconds']:.2f} s  {v['entries']:,} entries"
                      f"  {v['entries_per_s']:,.0f} entries/s  {v['rows_per_s']:,.0f} rows/s")
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
        print(f"    vs FK floor {p['vs_floor']:.2f}×   vs per-entry {p['vs_baseline']:.0f}×"
              f"   aggregation {p['aggregation_share']:.1%}   orchestration"
              f" {p['orchestration_overhead']:.1%}   chunks {p['chunks']}"
              f"   peak RSS {p['peak_rss_mb']}   same rows as floor: {p['same_rows_as_floor']}")
    _print_incremental(r)
    if "ingest" in r:
        i = r["ingest"]
        print(f"ingest: 25k factor rows {i['factor_job_s']:.2f} s (job), "
              f"100k entry rows {i['entry_ingest_job_s']:.2f} s (job), "
              f"{i['entry_pipeline_s']:.2f} s with recalculation and aggregation")


if __name__ == "__main__":
    main()
