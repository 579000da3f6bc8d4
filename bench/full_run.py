"""`python -m bench --entries N`: floors, the per-entry loop, the pipeline with 1 and 2 worker
processes, the full `it` slice beside one revised factor, ingest — each a *part* of
bench/results/latest.json (bench/results.py) with its own keys."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

from bench import services
from bench.results import load_average, summary
from bench.timed_runs import repeat


def run_full(a: argparse.Namespace, log: Path) -> dict[str, dict[str, Any]]:
    """Every part the flags ask for: part name → its top-level keys."""
    from bench.seed_db import seed

    parts: dict[str, dict[str, Any]] = {}
    print(f"seeding {a.entries:,} entries …", flush=True)
    seeded = seed(a, log)
    if not a.only_incremental:
        parts["full"] = full = _floors_and_pipeline(a, log)
        full["seed"] = seeded
    if a.only_incremental or not a.skip_incremental:
        parts["incremental"] = incremental(a, log)
    if not a.skip_ingest and not a.only_incremental:
        parts["ingest"] = {"ingest": _ingest(a, log)}
    if "full" in parts and "incremental" in parts:  # issue 14's meaning of the key
        parts["full"]["same_rows_as_floor"] = (
            parts["full"]["same_rows_as_floor"]
            and parts["incremental"]["incremental_same_rows_as_full"])
    return parts


def _floors_and_pipeline(a: argparse.Namespace, log: Path) -> dict[str, Any]:
    from bench.baseline import run_baseline
    from bench.floor import (
        compute_rows,
        emission_totals,
        run_fk_floor,
        run_hardware_floor,
        same_totals,
    )
    from bench.pipeline_run import run_pipeline

    r: dict[str, Any] = {"entries": a.entries, "units": a.units, "year": a.year,
                         "chunk_size": a.chunk_size, "repeat": a.repeat, "warmup": a.warmup}
    print("floors: computing the rows (untimed) …", flush=True)
    rows, n_rows, kg = compute_rows(a.database_url, a.year)
    r["rows"], r["engine_kg"] = n_rows, kg
    # The hardware floor is the ratio's denominator and the disk moves ±20 % between runs:
    # as many runs as the pipeline's. The FK floor (3× slower, context only) runs once.
    hw_runs = [run_hardware_floor(a.database_url, a.year, rows) for _ in range(a.repeat)]
    hw_sum = summary(h["seconds"] for h in hw_runs)
    hw = dict(hw_runs[0], seconds=hw_sum["median"], min_s=hw_sum["min"], max_s=hw_sum["max"],
              runs_s=[round(x, 3) for x in hw_sum["runs"]])
    fk = run_fk_floor(a.database_url, a.year, rows)
    del rows
    for f in (hw, fk):
        f["rows_per_s"] = n_rows / f["seconds"]
    r["hardware_floor"], r["floor"] = hw, fk
    print(f"hardware floor: {hw['seconds']:.2f} s median ({hw['min_s']:.2f}–{hw['max_s']:.2f},"
          f" {hw['rows_per_s']:,.0f} rows/s); FK floor: {fk['seconds']:.2f} s", flush=True)
    floor_totals = (int(hw["check_rows"]), float(hw["check_kg"]))

    print(f"per-entry loop on {a.sample:,} entries …", flush=True)
    r["baseline"] = run_baseline(a.database_url, a.year, a.sample)

    from sqlalchemy.engine import make_url

    from bench.cpu_split import CpuSplit
    database = str(make_url(a.database_url).database)

    def one_run(w: int, workers: services.Workers) -> dict[str, Any]:
        with CpuSplit(database, workers.pids) as split:
            run = run_pipeline(a.year, w)
        run["cpu"] = split.result()
        run["load_average"] = load_average()
        run["rows"], run["kg"] = emission_totals(a.database_url, a.year)
        run["same_rows_as_floor"] = same_totals((run["rows"], run["kg"]), floor_totals)
        return run

    r["pipeline"] = {}
    for w in [int(x) for x in a.workers.split(",") if x.strip()]:
        with services.Workers(w, log) as workers:
            print(f"pipeline with {w} worker process(es) …", flush=True)
            run = repeat(functools.partial(one_run, w, workers), times=a.repeat, warmup=a.warmup,
                         database_url=a.database_url, label=f"pipeline {w}w")
            run["peak_rss_mb"] = workers.peak_rss_mb()
        # Exact in every timed run, not only in the median one; every pipeline SUCCESS.
        run["same_rows_as_floor"] = all(x["same_rows_as_floor"] for x in run["runs"])
        run["all_success"] = all(set(x["statuses"]) == {"SUCCESS"} for x in run["runs"])
        run["rows_per_s"] = run["rows"] / run["seconds"]
        run["entries_per_s"] = a.entries / run["seconds"]
        run["vs_hardware_floor"] = run["seconds"] / hw["seconds"]
        run["vs_floor"] = run["seconds"] / fk["seconds"]
        run["vs_baseline"] = run["entries_per_s"] / r["baseline"]["entries_per_s"]
        r["pipeline"][str(w)] = run
        print(f"  {run['seconds']:.2f} s median ({run['min_s']:.2f}–{run['max_s']:.2f}) ="
              f" {run['vs_hardware_floor']:.2f}× hardware floor, same rows as floor:"
              f" {run['same_rows_as_floor']}", flush=True)
    r.update(_top_keys(r))
    return r


def _top_keys(r: dict[str, Any]) -> dict[str, Any]:
    """The flat keys issue 14 compares runs by (medians), with min and max beside them."""
    pipes = r["pipeline"]
    two = pipes.get("2") or next(iter(pipes.values()))
    out: dict[str, Any] = {
        "hardware_floor_s": r["hardware_floor"]["seconds"],
        "hardware_floor_min_s": r["hardware_floor"]["min_s"],
        "hardware_floor_max_s": r["hardware_floor"]["max_s"],
        "fk_floor_s": r["floor"]["seconds"],
        "per_entry_rows_per_s": r["baseline"]["rows"] / r["baseline"]["seconds"],
        "vs_hardware_floor": two["vs_hardware_floor"],
        "vs_per_entry": two["vs_baseline"],
        "aggregation_share": two["aggregation_share"],
        "orchestration_share": two["orchestration_overhead"],
        "pipeline_2w_cpu": two.get("cpu"),
        "child_peak_rss_mb": max(p["peak_rss_mb"].get("child_max", 0.0) for p in pipes.values()),
        "same_rows_as_floor": all(p["same_rows_as_floor"] for p in pipes.values()),
        "all_pipelines_success": all(p["all_success"] for p in pipes.values()),
    }
    for w in ("1", "2"):
        p = pipes.get(w, {})
        out[f"pipeline_{w}w_s"] = p.get("seconds")
        out[f"pipeline_{w}w_min_s"] = p.get("min_s")
        out[f"pipeline_{w}w_max_s"] = p.get("max_s")
    return out


def incremental(a: argparse.Namespace, log: Path) -> dict[str, Any]:
    from bench import incremental as inc
    from bench.floor import emission_totals, same_totals

    factor_file = (Path(".carbon") / "bench-seed" / f"{a.year}-{a.entries}-{a.units}"
                   / "factors" / "11_it.csv")
    vacuum_s = services.vacuum_analyze_if_no_autovacuum(a.database_url)
    if vacuum_s is not None:
        print(f"  autovacuum is off on this server: VACUUM ANALYZE first ({vacuum_s:.1f} s,"
              " untimed)", flush=True)
    with services.Workers(2, log) as workers:
        print("full `it` slice, 2 worker processes …", flush=True)
        full = inc.full_it_slice(a.year)
        print("impact preview of one revised `it` factor (chunked, then in one process,"
              " twice) …", flush=True)
        runs = [inc.preview_one_factor(a.year, factor_file, chunked=c)
                for c in (True, False, True, False)]
        preview = min((r for r in runs if r["chunked"]), key=lambda r: r["seconds"])
        preview["one_process_s"] = min(r["seconds"] for r in runs if not r["chunked"])
        preview["runs_s"] = [(r["chunked"], round(r["seconds"], 3)) for r in runs]
        print("one `it` factor revised (recalculate=true) …", flush=True)
        one = inc.one_factor_revision(a.year, factor_file)
        full["peak_rss_mb"] = workers.peak_rss_mb()
    expected = inc.expected_it_totals(a.year)
    got = emission_totals(a.database_url, a.year, inc.IT_DET)
    one["same_rows_as_full"] = same_totals(got, expected)
    print(f"  full it slice {full['seconds']:.2f} s; one factor {one['seconds']:.2f} s"
          f" ({one['entries_recalculated']:,} entries); same rows as a full recalculation:"
          f" {one['same_rows_as_full']}; its preview {preview['seconds']:.2f} s"
          f" ({preview['entries_computed']:,} entries computed; in one process"
          f" {preview['one_process_s']:.2f} s)", flush=True)
    for line in one["timeline"]:
        print("    " + line)
    return {"incremental": {"full_it_slice": full, "one_factor": one, "preview": preview,
                            "it_entries": _it_entries(a.year), "vacuum_analyze_s": vacuum_s},
            "incremental_one_factor_s": one["seconds"],
            "full_it_slice_s": full["seconds"],
            "preview_one_factor_s": preview["seconds"],
            "preview_one_factor_one_process_s": preview["one_process_s"],
            "incremental_same_rows_as_full": one["same_rows_as_full"],
            "incremental_facility_same_as_full": one["facility_same_as_full"],
            "incremental_facility_factors_as_rows": one["facility_factors_as_rows"]}


def _it_entries(year: int) -> int:
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope
    with session_scope() as s:
        return int(s.execute(text("SELECT count(*) FROM data_entries WHERE year = :y AND"
                                  " data_entry_type_id = 11"), {"y": year}).scalar() or 0)


def _ingest(a: argparse.Namespace, log: Path) -> dict[str, Any]:
    from sqlalchemy import text

    from bench.ingest_speed import run_ingest
    from carbon_domain.db.session import session_scope
    from carbon_tasks.operations import start_upload
    from carbon_tasks.waiting import wait_for_pipeline

    with session_scope() as s:
        units = [u for (u,) in s.execute(text(
            "SELECT institutional_id FROM units WHERE institutional_id IS NOT NULL"
            " AND level = 4 LIMIT 200"))]
    with services.Workers(2, log):
        # Units keep their codes; the upload creates next year's reports for them.
        wait_for_pipeline(start_upload("units", _units_for(units, a.year + 1),
                                       year=a.year + 1, created_by="bench").pipeline_id)
        return run_ingest(a.year, units)


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
