"""What the operator waits for around a job (issue 23, targets 3 and 4): the `carbon`
command's start-up, `carbon recalc … --wait` end to end, and the console's click on
"Recalculate" until SUCCESS shows.

Part of `python -m bench --slice it` (keys ``cli_startup_s``, ``slice_it_cli_e2e_s``,
``console_click_to_success_s``); alone, on the slice database a previous `--slice it` run
seeded (same ``--database-url``):

    python -m bench.operator_wait --slice it [--runs 5] [--no-console]

Every figure is a median over ``--runs`` runs (`python -m bench --slice it` passes its
``--repeat``), with min and max beside it; the workers are started once and warmed by one
untimed recalculation, and each recalculation follows a VACUUM ANALYZE (bench/timed_runs.py).
The start-up runs interleave the commands (the machine is shared: a burst of load spreads
over all of them). ``-X importtime`` gives the load-independent part: modules imported and
their summed import time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import old_system, results, services

MODULE_NAME = {"it": "equipment", "member": "headcount"}
DET_NAME = {"it": "it", "member": "member"}
MODULE = {"it": 4, "member": 1}
DET = {"it": 11, "member": 1}
STARTUP_COMMANDS = (("--help",), ("status", "--help"), ("recalc", "--help"))


def _carbon() -> str:
    return str(Path(sys.executable).parent / "carbon")


def _timed(argv: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one `carbon` child, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([_carbon(), *argv], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "100"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"carbon {' '.join(argv)} failed: {proc.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def import_profile(argv: list[str]) -> dict[str, Any]:
    """Modules a `carbon` command imports and their summed (top-level cumulative) import
    time, from `python -X importtime`."""
    proc = subprocess.run([sys.executable, "-X", "importtime", _carbon(), *argv],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "100"})
    rows = [ln.split("|") for ln in proc.stderr.splitlines()
            if ln.startswith("import time:") and "cumulative" not in ln]
    top = [int(r[1]) for r in rows if len(r) == 3 and re.match(r"^ \S", r[2])]
    return {"modules": len(rows), "import_s": round(sum(top) / 1e6, 3)}


def cli_startup(year: int, runs: int) -> dict[str, Any]:
    """`carbon --help`, `carbon status --help`, `carbon recalc --help`: the start-up every
    call pays before its work (interpreter, imports, command tree, parsing)."""
    samples: dict[str, list[tuple[float, float]]] = {" ".join(c): [] for c in STARTUP_COMMANDS}
    status_wall: list[float] = []
    for _ in range(runs):
        for cmd in STARTUP_COMMANDS:
            wall, cpu, _ = _timed(list(cmd))
            samples[" ".join(cmd)].append((wall, cpu))
        status_wall.append(_timed(["status", "--year", str(year), "--json"])[0])
    out: dict[str, Any] = {}
    for name, values in samples.items():
        out[name] = {"wall_s": round(statistics.median(w for w, _ in values), 3),
                     "cpu_s": round(statistics.median(c for _, c in values), 3),
                     **import_profile(name.split())}
    out["status --year (with its read)"] = {
        "wall_s": round(statistics.median(status_wall), 3),
        **import_profile(["status", "--year", str(year), "--json"])}
    out["cli_startup_s"] = max(v["wall_s"] for k, v in out.items() if "--help" in k)
    return out


def _times(job_id: int, pipeline_id: str) -> dict[str, datetime]:
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope

    with session_scope() as s:
        row = s.execute(text(
            "SELECT j.started_at, j.finished_at, p.created_at, p.finished_at AS p_finished"
            " FROM data_ingestion_jobs j JOIN pipelines p ON p.id = j.pipeline_id"
            " WHERE j.id = :j AND p.id = :p"), {"j": job_id, "p": pipeline_id}).one()
    return {k: (v if v.tzinfo else v.replace(tzinfo=UTC)) for k, v in row._mapping.items()}


def _job_counts(job_id: int) -> tuple[int, int]:
    """Entries and rows the recalculation job wrote (its meta)."""
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope

    with session_scope() as s:
        meta = s.execute(text("SELECT meta FROM data_ingestion_jobs WHERE id = :j"),
                         {"j": job_id}).scalar() or {}
    rec = meta.get("recalculation", {})
    return int(rec.get("entries", 0)), int(rec.get("rows", 0))


def _spread(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    """Median of every figure of the runs, and min and max of ``keys``."""
    med: dict[str, Any] = {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}
    for k in keys:
        med[f"{k}_min"] = round(min(r[k] for r in rows), 3)
        med[f"{k}_max"] = round(max(r[k] for r in rows), 3)
    return med


def cli_e2e(name: str, year: int, runs: int) -> dict[str, Any]:
    """`carbon recalc MODULE TYPE --year Y --wait --json`, a full recalculation of the slice,
    end to end (the child's wall time), against the job's own claim → finish time."""
    argv = ["recalc", MODULE_NAME[name], DET_NAME[name], "--year", str(year), "--wait",
            "--json"]
    rows = []
    for _ in range(runs):
        services.vacuum_analyze_touched(os.environ["CARBON_DATABASE_URL"])
        start = datetime.now(UTC)
        wall, cpu, stdout = _timed(argv)
        end = datetime.now(UTC)
        acc = json.loads(stdout)
        if acc["pipeline_status"] != "SUCCESS":
            raise SystemExit(f"carbon recalc ended {acc['pipeline_status']}")
        t = _times(acc["job_id"], acc["pipeline_id"])
        job = (t["finished_at"] - t["started_at"]).total_seconds()
        entries, written = _job_counts(acc["job_id"])
        rows.append({
            "entries": entries, "rows": written,
            "e2e_s": wall, "cli_cpu_s": cpu, "job_s": job,
            # before the pipeline's row exists: start-up, imports, the checks of the trigger
            "before_rows_s": (t["created_at"] - start).total_seconds(),
            # from the pipeline's end (aggregation included) to the command's exit
            "after_end_s": (end - t["p_finished"]).total_seconds(),
            "pipeline_s": (t["p_finished"] - t["created_at"]).total_seconds()})
    med = _spread(rows, ("e2e_s",))
    med["adds_to_job_s"] = round(statistics.median(r["e2e_s"] - r["job_s"] for r in rows), 3)
    med["vs_old_system"] = round(old_system.ratio(name, med["entries"] / med["e2e_s"],
                                                  med["rows"] / med["e2e_s"]), 2)
    med["runs"] = rows
    return med


def run(name: str, year: int, runs: int, log: Path, console: bool = True) -> dict[str, Any]:
    """Every figure, with 2 worker processes running (the slice's seed already loaded)."""
    out: dict[str, Any] = {"startup": cli_startup(year, runs)}
    print(f"cli start-up (worst --help median): {out['startup']['cli_startup_s']:.3f} s",
          flush=True)
    with services.Workers(2, log):
        from bench.slices import time_slice  # one untimed recalculation warms the workers

        out["warmup_s"] = round(time_slice(name, year)["seconds"], 3)
        out["cli_e2e"] = e2e = cli_e2e(name, year, runs)
        print(f"carbon recalc … --wait, {name}: {e2e['e2e_s']:.2f} s end to end (job"
              f" {e2e['job_s']:.2f} s; adds {e2e['adds_to_job_s']:.2f} s; "
              f"{e2e['vs_old_system']:.1f}× the old system)", flush=True)
        if console:
            from bench.console_click import console_click

            out["console"] = c = console_click(name, year, runs)
            if "skipped" not in c:
                print(f"console click → SUCCESS: {c['click_to_success_s']:.2f} s (job"
                      f" {c['job_s']:.2f} s, {c['vs_job']:.2f}×; page latency"
                      f" {c['page_latency_s']:.2f} s)", flush=True)
    return out


def top_keys(name: str, w: dict[str, Any]) -> dict[str, Any]:
    """The operator-wait part's keys of bench/results/latest.json (``operator_wait_<slice>``):
    medians, with min and max of the end-to-end and click figures."""
    e2e, console = w["cli_e2e"], w.get("console", {})
    click = "console_click_to_success_s" if name == "it" else f"console_click_to_success_{name}_s"
    return {f"operator_wait_{name}": w,
            "cli_startup_s": w["startup"]["cli_startup_s"],
            f"slice_{name}_cli_e2e_s": e2e["e2e_s"],
            f"slice_{name}_cli_e2e_min_s": e2e["e2e_s_min"],
            f"slice_{name}_cli_e2e_max_s": e2e["e2e_s_max"],
            f"slice_{name}_cli_adds_to_job_s": e2e["adds_to_job_s"],
            f"slice_{name}_cli_vs_old_system": e2e["vs_old_system"],
            click: console.get("click_to_success_s"),
            f"{click[:-2]}_min_s": console.get("click_to_success_s_min"),
            f"{click[:-2]}_max_s": console.get("click_to_success_s_max"),
            f"{click[:-2]}_vs_job": console.get("vs_job"),
            f"{click[:-2]}_page_latency_s": console.get("page_latency_s")}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.operator_wait", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slice", choices=("it", "member"), default="it")
    p.add_argument("--year", type=int, default=2025)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--no-console", action="store_true", help="skip the browser part")
    p.add_argument("--database-url",
                   default="postgresql+psycopg2://postgres@127.0.0.1:5432/carbon_bench")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    p.add_argument("--out", type=Path, default=Path("bench/results/latest.json"),
                   help="merged into (bench/results.py), part operator_wait_<slice>")
    a = p.parse_args(argv)
    url = a.database_url + f"_slice_{a.slice}"
    services.configure(url, a.redis_url, 10_000)
    if not services.database_exists(url):
        raise SystemExit(f"no slice database at {url}: run `python -m bench --slice {a.slice}`"
                         " first (same --database-url)")
    load0 = results.load_average()
    keys = top_keys(a.slice, run(a.slice, a.year, a.runs, a.out.parent / "workers.log",
                                 console=not a.no_console))
    results.write(a.out, {f"operator_wait_{a.slice}": keys}, results.meta(load0))
    print(json.dumps({k: v for k, v in keys.items() if not isinstance(v, dict)}, indent=1))
    print(f"merged into {a.out}")


if __name__ == "__main__":
    main()
