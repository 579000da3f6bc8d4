"""`python -m bench --slice it|member`: the old system's own side-by-side slices.

Same data as the comparison measured against the system we replace (issue 14): 250 units;
``it``: 50,000 entries over 60 factors (20 classes × 3 sub-classes, EF 0.128 kg/kWh), active
hours from {8, 20, 40, 50, 60, 168} and standby up to the rest of the week; ``member``:
50,000 entries, fte 0.2–1.0, 24 factors (every food, waste and commuting leaf). Every EF is
doubled (upload without recalculation), then the type is recalculated in full; the figure is
the recalculation job's own time (claim → finish), with 1 and then 2 worker processes.
"""

from __future__ import annotations

import csv
import io
import random
import time
from pathlib import Path
from typing import Any

from bench import old_system, services, timed_runs

MODULE = {"it": 4, "member": 1}
DET = {"it": 11, "member": 1}
HOURS = (8, 20, 40, 50, 60, 168)


def _csv(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def it_factors(ef: float) -> bytes:
    rows = [("it", f"Class {c:02d}", f"Sub {s}", 20 + 5 * c + 10 * s, 1 + s, 40, 60, ef)
            for c in range(20) for s in range(3)]
    return _csv(("data_entry_type", "equipment_class", "sub_class", "active_power_w",
                 "standby_power_w", "active_usage_hours_per_week",
                 "standby_usage_hours_per_week", "ef_kg_co2eq_per_kwh"), rows)


def it_entries(units: list[str], n: int, rng: random.Random) -> bytes:
    rows = []
    for i in range(n):
        act = HOURS[rng.randrange(len(HOURS))]
        stb = rng.randrange(0, 168 - act + 1)
        rows.append((units[i % len(units)], "it", f"I{i:07d}", "SLICE DEVICE",
                     f"Class {rng.randrange(20):02d}", f"Sub {rng.randrange(3)}", act, stb))
    return _csv(("unit_institutional_id", "data_entry_type", "equipment_id", "name",
                 "equipment_class", "sub_class", "active_usage_hours_per_week",
                 "standby_usage_hours_per_week"), rows)


def member_factors(scale: float) -> bytes:
    from carbon_domain.seed.kinds.people import LEAVES

    rows = [("member", cat, cls, sub, unit, per_m, round(ef * scale, 6))
            for cat, cls, sub, unit, per_m, _per_s, ef in LEAVES]
    return _csv(("data_entry_type", "headcount_category", "headcount_class",
                 "headcount_subclass", "unit", "number_of_unit_per_fte",
                 "ef_kg_co2eq_per_unit"), rows)


def member_entries(units: list[str], n: int, rng: random.Random) -> bytes:
    rows = [(units[i % len(units)], "member", f"Person {i}", "postdoc", f"{900000 + i}",
             round(rng.uniform(0.2, 1.0), 2)) for i in range(n)]
    return _csv(("unit_institutional_id", "data_entry_type", "name", "position_category",
                 "user_institutional_id", "fte"), rows)


def _upload(kind: str, body: bytes, year: int, **kw: Any) -> str:
    from carbon_tasks.operations import start_upload
    from carbon_tasks.waiting import wait_for_pipeline

    acc = start_upload(kind, body, year=year, created_by="bench", **kw)
    status = wait_for_pipeline(acc.pipeline_id, timeout=1800).status
    if status != "SUCCESS":
        raise SystemExit(f"slice set-up: {kind} upload ended {status}")
    return acc.pipeline_id


def seed_slice(name: str, a: Any, log: Path) -> dict[str, Any]:
    """A fresh database with 250 units, the slice's factors and entries (through ingest)."""
    from carbon_domain.seed.generator import generate

    services.recreate_database(a.database_url)
    out_dir = Path(".carbon") / "bench-seed" / f"slice-units-{a.year}"
    manifest = generate(out_dir, units=250, entries=1000, year=a.year)
    units_csv = (out_dir / "units.csv").read_bytes()
    labs = [r["institutional_id"] for r in csv.DictReader(io.StringIO(units_csv.decode()))
            if r["level"] == "4"]
    rng = random.Random(14)
    t0 = time.perf_counter()
    with services.Workers(2, log):
        _upload("units", units_csv, a.year)
        mod, det = MODULE[name], DET[name]
        factors = it_factors(0.128) if name == "it" else member_factors(1.0)
        entries = (it_entries if name == "it" else member_entries)(labs, a.slice_entries, rng)
        _upload("factors", factors, a.year, module=mod, det=det, recalculate=False)
        _upload("data-entries", entries, a.year, module=mod, det=det)
        # Every EF doubled, not recalculated yet: the timed runs below recalculate it.
        doubled = it_factors(0.256) if name == "it" else member_factors(2.0)
        _upload("factors", doubled, a.year, module=mod, det=det, recalculate=False)
    del manifest
    return {"seconds": time.perf_counter() - t0, "labs": len(labs), "entries": a.slice_entries}


def time_slice(name: str, year: int) -> dict[str, Any]:
    """Full recalculation of the slice's type; the job's own claim → finish time."""
    from sqlalchemy import select

    from carbon_domain.db.models import DataIngestionJob as Job
    from carbon_domain.db.session import session_scope
    from carbon_tasks.operations import trigger_recalculation
    from carbon_tasks.waiting import wait_for_pipeline

    acc = trigger_recalculation(module=MODULE[name], det=DET[name], year=year,
                                created_by="bench")
    status = wait_for_pipeline(acc.pipeline_id, timeout=1800).status
    with session_scope() as s:
        job = s.execute(select(Job.started_at, Job.finished_at, Job.meta)
                        .where(Job.id == acc.job_id)).one()
    rec = (job.meta or {}).get("recalculation", {})
    seconds = (job.finished_at - job.started_at).total_seconds()
    return {"status": status, "seconds": seconds, "entries": rec.get("entries", 0),
            "rows": rec.get("rows", 0)}


def run_slice(name: str, a: Any, log: Path) -> dict[str, Any]:
    """Seed, then per worker setting: workers started once, one untimed warm-up
    recalculation, ``a.repeat`` timed ones each after a VACUUM ANALYZE (bench/timed_runs.py).
    Every run must end SUCCESS with the same rows and total kg (they recalculate the same
    entries against the same factors), whatever the number of processes."""
    from bench.floor import emission_totals

    out: dict[str, Any] = {"slice": name, "seed": seed_slice(name, a, log)}

    def one_run() -> dict[str, Any]:
        run = time_slice(name, a.year)
        run["totals"] = emission_totals(a.database_url, a.year, DET[name])
        return run

    for w in [int(x) for x in a.workers.split(",") if x.strip()]:
        with services.Workers(w, log) as workers:
            run = timed_runs.repeat(one_run, times=a.repeat, warmup=a.warmup,
                                    database_url=a.database_url, label=f"slice {name} {w}w")
            run["peak_rss_mb"] = workers.peak_rss_mb()
        run["entries_per_s"] = run["entries"] / run["seconds"]
        run["rows_per_s"] = run["rows"] / run["seconds"]
        run["vs_old_system"] = old_system.ratio(name, run["entries_per_s"], run["rows_per_s"])
        out[f"{w}w"] = run
        print(f"slice {name}, {w} worker(s): {run['seconds']:.2f} s median"
              f" ({run['min_s']:.2f}–{run['max_s']:.2f}), {run['entries_per_s']:,.0f}"
              f" entries/s, {run['rows_per_s']:,.0f} rows/s,"
              f" {run['vs_old_system']:.1f}× the old system", flush=True)
    runs = [r for k, v in out.items() if k.endswith("w") for r in v["runs"]]
    out["same_totals"] = runs_agree(runs, out["seed"]["entries"])
    return out


def runs_agree(runs: list[dict[str, Any]], entries: int) -> bool:
    """Every run SUCCESS, recalculated every entry of the slice, wrote the rows the table
    holds, and left the same count and total kg as the others — up to the summation order
    of the float sum (the 50k `it` total differed in its 15th digit between runs:
    3017027.0873600505 / …0356 / …056)."""
    from bench.floor import same_totals

    return bool(runs) and all(
        r["status"] == "SUCCESS" and r["entries"] == entries and r["totals"][0] == r["rows"]
        and same_totals(tuple(r["totals"]), tuple(runs[0]["totals"])) for r in runs)


def top_keys(s: dict[str, Any]) -> dict[str, Any]:
    """The slice part's keys: issue 14's (``slice``, ``slice_entries_per_s_1w``, … for the
    slice run last) and the same figures under the slice's name, so `it` and `member` both
    stay in bench/results/latest.json."""
    name = s["slice"]
    out: dict[str, Any] = {
        "slice": name,
        f"slice_{name}": s,
        "slice_entries_per_s_1w": s.get("1w", {}).get("entries_per_s"),
        "slice_entries_per_s_2w": s.get("2w", {}).get("entries_per_s"),
        "slice_rows_per_s_2w": s.get("2w", {}).get("rows_per_s"),
        f"slice_{name}_entries": s["seed"]["entries"],
        f"slice_{name}_same_totals": s["same_totals"],
        f"slice_{name}_child_peak_rss_mb": max(
            (v["peak_rss_mb"].get("child_max", 0.0) for k, v in s.items() if k.endswith("w")),
            default=None),
    }
    for w in ("1w", "2w"):
        v = s.get(w, {})
        out.update({f"slice_{name}_{w}_s": v.get("seconds"),
                    f"slice_{name}_{w}_min_s": v.get("min_s"),
                    f"slice_{name}_{w}_max_s": v.get("max_s"),
                    f"slice_{name}_entries_per_s_{w}": v.get("entries_per_s"),
                    f"slice_{name}_rows_per_s_{w}": v.get("rows_per_s"),
                    f"slice_{name}_vs_old_system_{w}": v.get("vs_old_system")})
    return out
