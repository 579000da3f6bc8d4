"""How long the recalculation status read takes with a long job history.

``python -m bench.status_read [--jobs 100000] [--repeat 30] [--reuse]``

Seeds its own database (``carbon_status_bench``): a small university (20 units,
``--entries-per-type`` entries (100) per data entry type, module stats) and ``--jobs``
FINISHED factor-upload and recalculation jobs for one year, spread over every (module,
type), each with a meta of 20 row errors (~2.5 kB), ending with a few factor uploads so
some types are stale. Then it times ``year_status`` (the service, as JSON dicts), ``GET
/v1/sync/recalculation-status`` (the route, serialisation included) and ``stale_stats``
(the monitoring read), median and p95 of ``--repeat`` warm calls (the entry counts and
reference checks are cached until the entries change; the first read after an upload is
printed apart), and, with ``--legacy``, the previous implementation (every job of the year
loaded with its meta and filtered in Python) for comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, or_, select, text

from bench.services import database_exists, recreate_database
from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import create_token
from carbon_domain.services.reads.completeness import clear_cache
from carbon_domain.services.reads.stale_stats import stale_stats
from carbon_domain.services.reads.status import year_status

YEAR = 2026
URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/carbon_status_bench"

_SEED_UNITS = """
INSERT INTO units (institutional_code, institutional_id, name, level, is_active)
SELECT 'U' || g, 'I' || g, 'Unit ' || g, 4, true FROM generate_series(1, 20) g;
INSERT INTO carbon_reports (unit_id, year) SELECT id, :year FROM units;
INSERT INTO carbon_report_modules (carbon_report_id, module_type_id, status, stats)
SELECT r.id, m, 2, jsonb_build_object('scope1', 1.5, 'scope2', 2.5, 'scope3', 3.0,
  'total', 7.0, 'by_emission_type', '{}'::jsonb, 'entry_count', 10, 'missing_factors', 0,
  'computed_at', '2026-11-27T12:00:00.000000Z', 'formula_version', 'bench')
FROM carbon_reports r CROSS JOIN generate_series(1, 8) m;
"""

# 100 entries per type; train stations, building rooms and currencies the checks read.
_SEED_ENTRIES = """
INSERT INTO data_entries (carbon_report_module_id, data_entry_type_id, data, source, year,
                          unit_id)
SELECT crm.id, t.det, CASE
    WHEN t.det = 21 THEN jsonb_build_object('origin_name', 'Lausanne',
                                            'destination_name', 'Bern', 'number_of_trips', 2)
    WHEN t.det = 30 THEN jsonb_build_object('building_name', 'BC', 'room_name', 'BC ' || g,
                                            'room_allocation_ratio', 1)
    WHEN t.det BETWEEN 60 AND 66 THEN jsonb_build_object('currency',
                                            CASE WHEN g % 2 = 0 THEN 'CHF' ELSE 'USD' END,
                                            'total_spent_amount', 100)
    ELSE jsonb_build_object('n', g) END,
  'csv', :year, r.unit_id
FROM (VALUES {types}) AS t(module, det)
CROSS JOIN generate_series(1, :per_type) g
JOIN carbon_reports r ON r.year = :year AND r.unit_id = (g % 20) + (SELECT min(id) FROM units)
JOIN carbon_report_modules crm ON crm.carbon_report_id = r.id AND crm.module_type_id = t.module;
"""

# Job i goes to combo i % n; even rounds are factor uploads, odd rounds recalculations.
_SEED_JOBS = """
INSERT INTO data_ingestion_jobs (job_type, module_type_id, data_entry_type_id, year,
  target_type, ingestion_method, state, result, status_message, meta, created_by,
  created_at, started_at, finished_at)
SELECT CASE WHEN (g / :n) % 2 = 0 THEN 'factor_ingest' ELSE 'emission_recalc' END,
  t.module, t.det, :year,
  CASE WHEN (g / :n) % 2 = 0 THEN 'FACTORS' ELSE 'DATA_ENTRIES' END,
  CASE WHEN (g / :n) % 2 = 0 THEN 'csv' ELSE 'computed' END,
  'FINISHED', 'WARNING', 'WARNING: 20 rows skipped',
  jsonb_build_object('config', jsonb_build_object('filename', 'f.csv'), 'rows', 1000,
    'skipped', 20, 'row_errors', (SELECT jsonb_agg(jsonb_build_object('row', e,
    'reason', 'ef_kg_co2eq: ''abc'' is not a number; expected a decimal such as 0.25 '
              || repeat('x', 60))) FROM generate_series(1, 20) e)),
  'bench', now() - make_interval(secs => :jobs - g), now() - make_interval(secs => :jobs - g),
  now() - make_interval(secs => :jobs - g)
FROM generate_series(0, :jobs - 1) g
JOIN (SELECT row_number() OVER () - 1 AS k, module, det FROM (VALUES {types}) v(module, det)) t
  ON t.k = g % :n;
"""


def _types_sql() -> tuple[str, int]:
    pairs = [(m.value, d.value) for m, dets in MODULE_DATA_ENTRY_TYPES.items() for d in dets]
    return ", ".join(f"({m}, {d})" for m, d in pairs), len(pairs)


def seed(url: str, jobs: int, per_type: int = 100) -> None:
    recreate_database(url)
    types, n = _types_sql()
    engine = create_engine(url)
    with engine.begin() as c:
        for stmt in _SEED_UNITS.split(";"):
            if stmt.strip():
                c.execute(text(stmt), {"year": YEAR})
        c.execute(text(_SEED_ENTRIES.format(types=types)), {"year": YEAR, "per_type": per_type})
        c.execute(text(_SEED_JOBS.format(types=types)), {"year": YEAR, "n": n, "jobs": jobs})
        # A last round of factor uploads for half the types: those are stale.
        c.execute(text(
            "INSERT INTO data_ingestion_jobs (job_type, module_type_id, data_entry_type_id,"
            " year, target_type, ingestion_method, state, result, meta, created_by)"
            f" SELECT 'factor_ingest', module, det, :year, 'FACTORS', 'csv', 'FINISHED',"
            f" 'SUCCESS', '{{}}'::jsonb, 'alice' FROM (VALUES {types}) v(module, det)"
            " WHERE det % 2 = 0"), {"year": YEAR})
        c.execute(text("ANALYZE"))
    engine.dispose()


def _time(call: Callable[[], Any], repeat: int) -> dict[str, float]:
    call()  # warm: connection pool, statement cache, reference data cache
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 1),
            "max_ms": round(samples[-1], 1)}


def _legacy(session: Any, year: int) -> int:
    """The previous read: every job of the year with its meta, filtered in Python."""
    rows = session.execute(
        select(Job.id, Job.job_type, Job.module_type_id, Job.data_entry_type_id, Job.state,
               Job.result, Job.meta, Job.covers_input_job_id)
        .where(Job.year == year, or_(Job.job_type.in_(("factor_ingest", "csv_ingest")),
                                     Job.job_type == "emission_recalc"))
        .order_by(Job.id)).all()
    stale = 0
    for m, d in {(r.module_type_id, r.data_entry_type_id) for r in rows}:
        inputs = [r for r in rows if r.job_type != "emission_recalc" and r.module_type_id == m
                  and r.data_entry_type_id in (d, None)]
        recalcs = [r for r in rows if r.job_type == "emission_recalc" and r.module_type_id == m
                   and r.data_entry_type_id == d]
        if inputs and not any(max(r.id, int(r.covers_input_job_id or 0))
                              > inputs[-1].id for r in recalcs):
            stale += 1
    return stale


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.status_read", description=__doc__)
    ap.add_argument("--database-url", default=URL)
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--entries-per-type", type=int, default=100,
                    help="data entries per data entry type (23 types)")
    ap.add_argument("--reuse", action="store_true", help="keep the seeded database")
    ap.add_argument("--legacy", action="store_true", help="also time the previous read")
    a = ap.parse_args(argv)

    os.environ["CARBON_DATABASE_URL"] = a.database_url
    os.environ.setdefault("CARBON_LOG_LEVEL", "WARNING")
    if not (a.reuse and database_exists(a.database_url)):
        t0 = time.perf_counter()
        seed(a.database_url, a.jobs, a.entries_per_type)
        print(f"seeded {a.jobs:,} jobs and {a.entries_per_type:,} entries per type in "
              f"{time.perf_counter() - t0:.1f} s")

    # The app reads the settings when it is imported: only after the environment is set.
    from carbon_api.app import create_app  # noqa: PLC0415

    def service() -> Any:
        with session_scope() as s:
            return [asdict(m) for m in year_status(s, YEAR)]

    modules = service()
    stale = sum(t["needs_recalculation"] for m in modules for t in m["data_entry_types"])
    with session_scope() as s:
        token = create_token(s, f"bench-{time.time_ns()}", "viewer")
    client = TestClient(create_app())
    headers = {"Authorization": f"Bearer {token}"}

    def route() -> Any:
        r = client.get("/v1/sync/recalculation-status", params={"year": YEAR}, headers=headers)
        assert r.status_code == 200, r.text
        return r

    clear_cache()  # the first read after an upload counts and checks the entries again
    t0 = time.perf_counter()
    service()
    cold = round((time.perf_counter() - t0) * 1000, 1)
    out: dict[str, Any] = {"jobs": a.jobs, "modules": len(modules), "stale_types": stale,
                           "first_read_ms": cold,
                           "service": _time(service, a.repeat), "api": _time(route, a.repeat)}
    def monitoring() -> Any:  # GET /v1/health/stale-stats: the monitoring read
        with session_scope() as s:
            return stale_stats(s, 0)

    out["stale_stats"] = _time(monitoring, a.repeat)
    if a.legacy:
        def legacy() -> Any:
            with session_scope() as s:
                return _legacy(s, YEAR)
        out["legacy_service"] = _time(legacy, max(3, a.repeat // 10))
    print(f"status read with {a.jobs:,} jobs in {YEAR} ({out['modules']} modules, "
          f"{stale} stale types):")
    print(f"  first read after an upload (entries counted and checked): {cold:.1f} ms")
    for key in ("service", "api", "stale_stats", "legacy_service"):
        if key in out:
            t = out[key]
            print(f"  {key:15} median {t['median_ms']:8.1f} ms   p95 {t['p95_ms']:8.1f} ms"
                  f"   max {t['max_ms']:8.1f} ms")
    return out


if __name__ == "__main__":
    main()
