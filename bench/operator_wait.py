"""What the operator waits for around a job (issue 23, targets 3 and 4): the `carbon`
command's start-up, `carbon recalc … --wait` end to end, and the console's click on
"Recalculate" until SUCCESS shows.

Part of `python -m bench --slice it` (keys ``cli_startup_s``, ``slice_it_cli_e2e_s``,
``console_click_to_success_s``); alone, on the slice database a previous `--slice it` run
seeded (same ``--database-url``):

    python -m bench.operator_wait --slice it [--runs 5] [--no-console]

Every figure is a median over ``--runs`` runs. The start-up runs interleave the commands
(the machine is shared: a burst of load spreads over all of them). ``-X importtime`` gives
the load-independent part: modules imported and their summed import time.
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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import services

# The old system's `it` slice: 50,000 entries at 7,054 entries/s (its own workflow, measured
# side by side on this machine for issue 14).
OLD_IT_ENTRIES_PER_S = 7054.0
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


def cli_e2e(name: str, year: int, runs: int) -> dict[str, Any]:
    """`carbon recalc MODULE TYPE --year Y --wait --json`, a full recalculation of the slice,
    end to end (the child's wall time), against the job's own claim → finish time."""
    argv = ["recalc", MODULE_NAME[name], DET_NAME[name], "--year", str(year), "--wait",
            "--json"]
    rows = []
    for _ in range(runs):
        start = datetime.now(UTC)
        wall, cpu, stdout = _timed(argv)
        end = datetime.now(UTC)
        acc = json.loads(stdout)
        if acc["pipeline_status"] != "SUCCESS":
            raise SystemExit(f"carbon recalc ended {acc['pipeline_status']}")
        t = _times(acc["job_id"], acc["pipeline_id"])
        job = (t["finished_at"] - t["started_at"]).total_seconds()
        rows.append({
            "e2e_s": wall, "cli_cpu_s": cpu, "job_s": job,
            # before the pipeline's row exists: start-up, imports, the checks of the trigger
            "before_rows_s": (t["created_at"] - start).total_seconds(),
            # from the pipeline's end (aggregation included) to the command's exit
            "after_end_s": (end - t["p_finished"]).total_seconds(),
            "pipeline_s": (t["p_finished"] - t["created_at"]).total_seconds()})
    med = {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}
    med["adds_to_job_s"] = round(statistics.median(r["e2e_s"] - r["job_s"] for r in rows), 3)
    med["vs_old_system"] = round(50_000 / med["e2e_s"] / OLD_IT_ENTRIES_PER_S, 2)
    med["runs"] = rows
    return med


@contextmanager
def _api_server() -> Iterator[str]:
    """The real app on uvicorn in a thread of this process (as the browser tests run it)."""
    import socket

    import uvicorn

    from carbon_api.app import app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# Records, in the page, when the type's button is clicked and when a pipeline card in the
# module's live area first carries SUCCESS (a MutationObserver: no polling of ours).
_OBSERVE = """(live) => {
  window.benchSeen = {};
  new MutationObserver(() => {
    document.querySelectorAll('#' + live + ' .pipeline-slot[data-pipeline]').forEach((s) => {
      const id = s.getAttribute('data-pipeline'), st = s.getAttribute('data-status');
      if (st && !window.benchSeen[id + st]) window.benchSeen[id + st] = Date.now();
    });
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def console_click(name: str, year: int, runs: int) -> dict[str, Any]:
    """Sign in, open the data page of the year, click the type's "Recalculate" and wait for
    its pipeline card to show SUCCESS; the in-page clock times the click and the card."""
    import shutil

    from playwright.sync_api import sync_playwright

    from carbon_domain.db.session import session_scope
    from carbon_domain.services.access.tokens import create_token

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "chromium not found (apt-get install -y chromium)"}
    with session_scope() as s:
        token = create_token(s, f"bench-{os.getpid()}", "operator")
    module, det = MODULE[name], DET[name]
    rows = []
    with _api_server() as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context().new_page()
        page.set_default_timeout(120_000)
        page.goto(base + "/login")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/data/*")
        for _ in range(runs):
            # Past the stream's look-back (SLACK_SECONDS): pipelines that just ended would
            # refresh the module card right after the page loads, under the test's click.
            _wait_idle()
            time.sleep(2.5)
            page.goto(f"{base}/console/data/{year}")
            page.wait_for_selector("body[data-stream-state=open]")
            page.evaluate(_OBSERVE, f"live-{module}")
            # An up-to-date module renders its types list closed: open it, as the operator does.
            page.locator(f"#module-{module}-status details.types").evaluate("d => d.open = true")
            button = page.locator(f"#type-{det}").get_by_role("button", name="Recalculate")
            clicked = button.evaluate("b => { const t = Date.now(); b.click(); return t; }")
            slot = page.locator(f"#live-{module} .pipeline-slot[data-pipeline]").first
            pid = slot.get_attribute("data-pipeline")
            page.wait_for_selector(f'#live-{module} .pipeline-slot[data-pipeline="{pid}"]'
                                   '[data-status="SUCCESS"]')
            shown = page.evaluate("(k) => window.benchSeen[k]", f"{pid}SUCCESS")
            t = _pipeline_times(str(pid))
            shown_at = datetime.fromtimestamp(shown / 1000, UTC)
            rows.append({
                "click_to_success_s": (shown - clicked) / 1000,
                "job_s": (t["finished_at"] - t["started_at"]).total_seconds(),
                "click_to_rows_s": (t["created_at"] - datetime.fromtimestamp(
                    clicked / 1000, UTC)).total_seconds(),
                # the page's own latency: the pipeline ended → its card says SUCCESS
                "page_latency_s": (shown_at - t["p_finished"]).total_seconds(),
                "pipeline_s": (t["p_finished"] - t["created_at"]).total_seconds()})
        browser.close()
    med = {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}
    med["vs_job"] = round(statistics.median(r["click_to_success_s"] / r["job_s"]
                                            for r in rows), 2)
    med["runs"] = rows
    return med


def _pipeline_times(pipeline_id: str) -> dict[str, datetime]:
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope

    with session_scope() as s:
        job_id = s.execute(text(
            "SELECT id FROM data_ingestion_jobs WHERE pipeline_id = :p AND job_type ="
            " 'emission_recalc' ORDER BY id LIMIT 1"), {"p": pipeline_id}).scalar_one()
    return _times(job_id, pipeline_id)


def _wait_idle(timeout: float = 120) -> None:
    """No job left running (the module's aggregation ends after the pipeline's card)."""
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as s:
            if not s.execute(text("SELECT 1 FROM data_ingestion_jobs WHERE state <>"
                                  " 'FINISHED' LIMIT 1")).first():
                return
        time.sleep(0.1)


def run(name: str, year: int, runs: int, log: Path, console: bool = True) -> dict[str, Any]:
    """Every figure, with 2 worker processes running (the slice's seed already loaded)."""
    out: dict[str, Any] = {"startup": cli_startup(year, runs)}
    print(f"cli start-up (worst --help median): {out['startup']['cli_startup_s']:.3f} s",
          flush=True)
    with services.Workers(2, log):
        out["cli_e2e"] = e2e = cli_e2e(name, year, runs)
        print(f"carbon recalc … --wait, {name}: {e2e['e2e_s']:.2f} s end to end (job"
              f" {e2e['job_s']:.2f} s; adds {e2e['adds_to_job_s']:.2f} s; "
              f"{e2e['vs_old_system']:.1f}× the old system)", flush=True)
        if console:
            out["console"] = c = console_click(name, year, runs)
            if "skipped" not in c:
                print(f"console click → SUCCESS: {c['click_to_success_s']:.2f} s (job"
                      f" {c['job_s']:.2f} s, {c['vs_job']:.2f}×; page latency"
                      f" {c['page_latency_s']:.2f} s)", flush=True)
    return out


def top_keys(name: str, w: dict[str, Any]) -> dict[str, Any]:
    """The flat keys of bench/results/latest.json."""
    return {"cli_startup_s": w["startup"]["cli_startup_s"],
            f"slice_{name}_cli_e2e_s": w["cli_e2e"]["e2e_s"],
            "console_click_to_success_s": w.get("console", {}).get("click_to_success_s")}


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
    p.add_argument("--out", type=Path, default=Path("bench/results/operator_wait.json"))
    a = p.parse_args(argv)
    url = a.database_url + f"_slice_{a.slice}"
    services.configure(url, a.redis_url, 10_000)
    if not services.database_exists(url):
        raise SystemExit(f"no slice database at {url}: run `python -m bench --slice {a.slice}`"
                         " first (same --database-url)")
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    report.update(run(a.slice, a.year, a.runs, a.out.parent / "workers.log",
                      console=not a.no_console))
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report.update(top_keys(a.slice, report))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps({k: report[k] for k in ("cli_startup_s", f"slice_{a.slice}_cli_e2e_s",
                                             "console_click_to_success_s")}))
    print(f"written {a.out}")


if __name__ == "__main__":
    main()
