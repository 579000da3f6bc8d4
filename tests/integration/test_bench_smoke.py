"""CI smoke runs of the benchmark at tiny sizes, real worker processes, `--repeat 2`. They
assert that the comparison is honest (the pipeline writes exactly the floor's rows, every
timed run), that every part merges its keys into one results file, and never a speed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

# Each test runs the bench 2 times over (~1 min each quiet; 2.5 min at load 11-14 on 2 cores):
# above the suite's 300 s default only on a crowded machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]


def _drop(*names: str) -> None:
    from tests.conftest import PG_ADMIN

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for db in names:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": db})
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}"'))
    admin.dispose()


@pytest.fixture
def bench_db() -> Iterator[tuple[str, str]]:
    from tests.conftest import PG_ADMIN

    db = f"carbon_bench_ci_{uuid.uuid4().hex[:8]}"
    try:
        yield db, PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"
    finally:
        _drop(db, f"{db}_slice_it")


def _bench(*args: str) -> None:
    from tests.conftest import REDIS

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARBON_", "CELERY_"))}
    proc = subprocess.run([sys.executable, "-m", *args, "--redis-url", REDIS], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_bench_10k_stress_then_pipeline_rows_equal_floor_rows(  # type: ignore[no-untyped-def]
        services, bench_db: tuple[str, str], tmp_path: Path) -> None:
    db, url = bench_db
    out = tmp_path / "latest.json"
    # The stress part on a fresh 10k seed: its full recalculation leaves the seed's rows.
    _bench("bench.stress", "--entries", "10000", "--units", "40", "--chunk-size", "2000",
           "--database-url", url, "--out", str(tmp_path / "stress.json"), "--results", str(out))
    stress = json.loads(out.read_text())
    assert stress["parts"] == ["stress"]
    assert stress["stress_10k_s"] > 0 and "stress_vs_1m" in stress  # null: no 1M run today
    assert stress["stress_all_success"] is True
    assert stress["stress_same_rows_as_before"] is True
    # Where the run's CPU went: both sides did work, and they fit in the run's core-seconds.
    cpu = stress["stress_cpu"]
    assert cpu["workers_cpu_s"] > 0 and cpu["postgres_cpu_s"] > 0
    spent = cpu["workers_cpu_s"] + cpu["postgres_cpu_s"] + cpu["idle_core_s"]
    assert spent <= cpu["cores_s"] * 1.05

    # The full bench on the same seed, merged into the same file: the stress keys stay.
    _bench("bench", "--entries", "10000", "--units", "40", "--sample", "300", "--workers", "2",
           "--chunk-size", "2000", "--skip-ingest", "--repeat", "2", "--reuse",
           "--database-url", url, "--out", str(out))
    report = json.loads(out.read_text())
    assert report["parts"] == ["full", "incremental"]
    assert sorted(report["by_part"]) == ["full", "incremental", "stress"]
    assert report["stress_10k_s"] == stress["stress_10k_s"]
    assert report["stress"]["pipeline"]["rows"] == report["rows"]
    assert report["seed"]["reused"] is True
    run = report["pipeline"]["2"]
    assert run["same_rows_as_floor"] is True
    assert run["rows"] == report["rows"] == report["floor"]["check_rows"]
    assert run["statuses"] == ["SUCCESS"] * 8
    assert run["chunks"] >= 10  # the slices really were split across chunks
    assert report["pipeline_2w_cpu"]["workers_cpu_s"] > 0
    assert report["pipeline_2w_cpu"]["postgres_cpu_s"] > 0
    assert report["baseline"]["entries"] == 300
    # Two timed runs on warm workers (one untimed warm-up), each exact, each after a vacuum.
    assert len(run["runs"]) == 2 and run["warmup_s"] is not None
    assert all(r["same_rows_as_floor"] and r["rows"] == report["rows"] for r in run["runs"])
    assert run["min_s"] <= report["pipeline_2w_s"] <= run["max_s"]
    assert report["pipeline_2w_min_s"] == min(r["seconds"] for r in run["runs"])
    assert len(report["hardware_floor"]["runs_s"]) == 2
    # Issue 14's comparison keys, and the one-factor revision recalculated fewer entries
    # than the slice holds yet left exactly the rows a full recalculation writes.
    for key in ("entries", "rows", "hardware_floor_s", "fk_floor_s", "per_entry_rows_per_s",
                "pipeline_2w_s", "pipeline_2w_max_s", "vs_hardware_floor", "vs_per_entry",
                "aggregation_share", "orchestration_share", "incremental_one_factor_s",
                "full_it_slice_s", "preview_one_factor_s", "child_peak_rss_mb",
                "same_rows_as_floor", "date", "commit", "load_average"):
        assert report[key] is not None, key
    assert report["same_rows_as_floor"] is True and report["all_pipelines_success"] is True
    assert report["incremental_same_rows_as_full"] is True
    assert report["incremental_facility_same_as_full"] is True
    assert report["incremental_facility_factors_as_rows"] is True
    assert report["hardware_floor"]["check_rows"] == report["rows"]
    one = report["incremental"]["one_factor"]
    assert one["status"] == "SUCCESS" and one["same_rows_as_full"] is True
    assert 0 < one["entries_recalculated"] < report["incremental"]["it_entries"]
    # The preview of that revision computed the whole `it` slice and saw the change.
    preview = report["incremental"]["preview"]
    assert preview["status"] == "SUCCESS"
    assert preview["entries_computed"] == report["incremental"]["it_entries"]
    assert 0 < preview["entries_affected"] < preview["entries_computed"]


def test_bench_slice_it_and_what_the_operator_waits_for(  # type: ignore[no-untyped-def]
        services, bench_db: tuple[str, str], tmp_path: Path) -> None:
    db, url = bench_db
    out = tmp_path / "latest.json"
    out.write_text(json.dumps({"kept": 1, "by_part": {"other": {"keys": ["kept"]}}}))
    _bench("bench", "--slice", "it", "--slice-entries", "500", "--workers", "2", "--repeat",
           "2", "--database-url", url, "--out", str(out))
    report = json.loads(out.read_text())
    assert report["kept"] == 1  # a part not run this time keeps its keys
    assert report["parts"] == ["slice_it", "operator_wait_it"]
    s = report["slice_it"]["2w"]
    assert len(s["runs"]) == 2 and s["warmup_s"] is not None
    assert all(r["status"] == "SUCCESS" and r["entries"] == 500 for r in s["runs"])
    assert report["slice_it_same_totals"] is True
    assert report["slice"] == "it" and report["slice_it_entries"] == 500
    for key in ("slice_entries_per_s_2w", "slice_rows_per_s_2w", "slice_it_2w_s",
                "slice_it_2w_min_s", "slice_it_2w_max_s", "slice_it_vs_old_system_2w",
                "cli_startup_s", "slice_it_cli_e2e_s", "slice_it_cli_e2e_max_s",
                "slice_it_cli_vs_old_system"):
        assert report[key] is not None and report[key] > 0, key
    assert report["slice_it_2w_min_s"] <= report["slice_it_2w_s"] <= report["slice_it_2w_max_s"]
    e2e = report["operator_wait_it"]["cli_e2e"]
    assert len(e2e["runs"]) == 2 and all(r["entries"] == 500 for r in e2e["runs"])
    assert "console_click_to_success_s" in report
    if shutil.which("chromium") or os.environ.get("CARBON_REQUIRE_SERVICES") == "1":
        assert report["console_click_to_success_s"] > 0
        assert len(report["operator_wait_it"]["console"]["runs"]) == 2
