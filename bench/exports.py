"""`python -m bench.exports --entries 300000`: results out, measured through the real API.

Seeds its own database (default ``carbon_bench_exports``; ``--reuse`` keeps a seed of the
same size) through the ingest path with real workers, starts ``carbon api`` as a subprocess
and measures:

- the detailed export of every data entry type (``GET /v1/exports/data/{det}.csv``):
  rows per second over all types, and the API process's peak RSS growth (VmHWM after the
  exports minus VmRSS before them);
- ``results.csv`` of the year (one line per unit × module × stored type);
- drill-down pages of a 100,000-entry report module: inside a transaction that moves
  100,000 entries of the largest module into one report module, times the page (service
  call, 7 runs), then rolls back and vacuums, so the seeded data stays as it was.

Prints a table and writes JSON (default bench/results/exports.json).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import services

ROOT = Path(__file__).resolve().parent.parent


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.exports", description=__doc__)
    p.add_argument("--entries", type=int, default=300_000)
    p.add_argument("--units", type=int, default=500)
    p.add_argument("--year", type=int, default=2025)
    p.add_argument("--database-url",
                   default="postgresql+psycopg2://postgres@127.0.0.1:5432/carbon_bench_exports")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    p.add_argument("--reuse", action="store_true", help="reuse a seed of the same size")
    p.add_argument("--module-entries", type=int, default=100_000,
                   help="entries of the drill-down module")
    p.add_argument("--out", type=Path, default=Path("bench/results/exports.json"))
    a = p.parse_args(argv)
    if a.entries < 1000:
        p.error("--entries must be ≥ 1000")
    return a


def seed(a: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope
    from carbon_domain.seed.generator import generate
    from carbon_tasks.seeding import load_seed

    marker = f"{a.entries}:{a.units}:{a.year}"
    if a.reuse and services.database_exists(a.database_url):
        try:
            with session_scope() as s:
                if s.execute(text("SELECT marker FROM bench_seed")).scalar() == marker:
                    return {"reused": True}
        except Exception:  # noqa: BLE001, S110 - no marker table: seed afresh
            pass
    services.recreate_database(a.database_url)
    manifest = generate(Path(".carbon") / "bench-seed" / f"{a.year}-{a.entries}-{a.units}",
                        units=a.units, entries=a.entries, year=a.year)
    t0 = time.perf_counter()
    with services.Workers(2, a.out.parent / "workers.log"):
        result = load_seed(manifest, year=a.year, created_by="bench")
    if not result.ok:
        raise SystemExit("seeding failed")
    with session_scope() as s:
        s.execute(text("CREATE TABLE bench_seed (marker text)"))
        s.execute(text("INSERT INTO bench_seed VALUES (:m)"), {"m": marker})
    return {"reused": False, "load_s": time.perf_counter() - t0}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def _get(client: Any, url: str, **params: Any) -> tuple[float, int, int, str | None]:
    """Stream one CSV: (seconds, data lines, bytes, last-recalculation header)."""
    t0 = time.perf_counter()
    lines = size = 0
    with client.stream("GET", url, params=params) as r:
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.read()[:300]!r}")
        for chunk in r.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
        job = r.headers.get("x-carbon-last-recalculation-job")
    return time.perf_counter() - t0, lines - 1, size, job


def measure_api(a: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from carbon_domain.catalog import DataEntryType
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.access.tokens import create_token

    with session_scope() as s:
        token = create_token(s, f"bench-{time.time_ns()}", "viewer")
    port = _port()
    carbon = Path(sys.executable).parent / "carbon"
    proc = subprocess.Popen([str(carbon), "api", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, "CARBON_LOG_LEVEL": "WARNING"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, Any] = {"types": {}}
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", timeout=600,
                              headers={"Authorization": f"Bearer {token}"})
        for _ in range(100):
            try:
                if client.get("/health").status_code in (200, 503):
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        _get(client, "/exports/results.csv", year=a.year)  # warm-up (imports, pools)
        before = _rss(proc.pid)
        total_s = total_rows = total_bytes = 0.0
        for det in DataEntryType:
            s, rows, size, job = _get(client, f"/exports/data/{int(det)}.csv", year=a.year)
            out["types"][det.name] = {"seconds": round(s, 3), "rows": rows, "bytes": size,
                                      "rows_per_s": round(rows / s) if s else None,
                                      "last_recalculation_job": job}
            total_s, total_rows, total_bytes = total_s + s, total_rows + rows, total_bytes + size
        after = _rss(proc.pid)
        out["detailed"] = {"seconds": round(total_s, 2), "rows": int(total_rows),
                           "mb": round(total_bytes / 2**20, 1),
                           "rows_per_s": round(total_rows / total_s),
                           "rss_before_mb": round(before["VmRSS"], 1),
                           "hwm_after_mb": round(after["VmHWM"], 1),
                           "peak_growth_mb": round(after["VmHWM"] - before["VmRSS"], 1)}
        times = []
        for _ in range(5):
            s, rows, size, _job = _get(client, "/exports/results.csv", year=a.year)
            times.append(s)
        out["results_csv"] = {"rows": rows, "bytes": size, "median_s": round(
            statistics.median(times), 3), "max_s": round(max(times), 3)}
    finally:
        proc.terminate()
        proc.wait(30)
    return out


def measure_drilldown(a: argparse.Namespace) -> dict[str, Any]:
    """Page timings on a report module holding ``module_entries`` entries (rolled back)."""
    from sqlalchemy import text

    from carbon_domain.db.session import new_session
    from carbon_domain.services.reads.drilldown import module_entries

    s = new_session()
    try:
        module = s.execute(text(
            "SELECT m.module_type_id FROM data_entries d JOIN carbon_report_modules m"
            " ON m.id = d.carbon_report_module_id WHERE d.year = :y"
            " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"), {"y": a.year}).scalar_one()
        target, report = s.execute(text(
            "SELECT m.id, m.carbon_report_id FROM carbon_report_modules m JOIN carbon_reports r"
            " ON r.id = m.carbon_report_id WHERE r.year = :y AND m.module_type_id = :m"
            " ORDER BY m.id LIMIT 1"), {"y": a.year, "m": module}).one()
        moved = s.execute(text(
            "UPDATE data_entries SET carbon_report_module_id = :t WHERE id IN (SELECT d.id FROM"
            " data_entries d JOIN carbon_report_modules m ON m.id = d.carbon_report_module_id"
            " WHERE m.module_type_id = :m AND d.year = :y ORDER BY d.id LIMIT :n)"),
            {"t": target, "m": module, "y": a.year, "n": a.module_entries}).rowcount
        s.execute(text("ANALYZE data_entries"))
        found = s.execute(text("SELECT count(*) FROM data_entries WHERE"
                               " carbon_report_module_id = :t"), {"t": target}).scalar()
        out: dict[str, Any] = {"module_type_id": module,
                               "module_entries": found, "moved": moved}
        cases = {"page_1": {}, "page_1_count": {"count": True},
                 "page_1_missing": {"missing": True},
                 "page_200": {"page": 200}, "page_1_limit_500": {"limit": 500}}
        for name, kw in cases.items():
            times = []
            for _ in range(7):
                t0 = time.perf_counter()
                page = module_entries(s, report, module, **kw)
                times.append(time.perf_counter() - t0)
            assert page is not None
            out[name] = {"median_ms": round(statistics.median(times) * 1000, 1),
                         "max_ms": round(max(times) * 1000, 1), "items": len(page.items)}
        return out
    finally:
        s.rollback()
        s.close()
        from carbon_domain.db.session import get_engine
        # The rolled-back UPDATE left a dead version of every moved entry: vacuum them, or
        # the next run's export of that type reads twice the heap.
        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE data_entries"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parse(sys.argv[1:] if argv is None else argv)
    services.configure(a.database_url, a.redis_url, 10_000)
    report: dict[str, Any] = {"entries": a.entries, "units": a.units, "year": a.year}
    print(f"seeding {a.entries:,} entries …", flush=True)
    report["seed"] = seed(a)
    from sqlalchemy import text

    from carbon_domain.db.session import get_engine
    with get_engine().connect() as c:  # what autovacuum does after a bulk load
        c.execute(text("ANALYZE"))
        c.commit()
    print("exports through the API …", flush=True)
    report["api"] = measure_api(a)
    print("drill-down …", flush=True)
    report["drilldown"] = measure_drilldown(a)
    d, r = report["api"]["detailed"], report["api"]["results_csv"]
    print(f"detailed exports: {d['rows']:,} rows in {d['seconds']} s = {d['rows_per_s']:,}"
          f" rows/s; API peak RSS growth {d['peak_growth_mb']} MB")
    print(f"results.csv: {r['rows']:,} rows, median {r['median_s']} s")
    dd = report["drilldown"]
    print(f"drill-down, module of {dd['module_entries']:,} entries: page 1"
          f" {dd['page_1']['median_ms']} ms (median of 7), with count"
          f" {dd['page_1_count']['median_ms']} ms, missing=true"
          f" {dd['page_1_missing']['median_ms']} ms, page 200 {dd['page_200']['median_ms']} ms")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
