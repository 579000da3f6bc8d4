"""CI smoke run of the benchmark: 10k entries, real worker processes. It asserts that the
comparison is honest (the pipeline writes exactly the floor's rows), never a speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.integration


def test_bench_10k_pipeline_rows_equal_floor_rows(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import PG_ADMIN, REDIS

    db = f"carbon_bench_ci_{uuid.uuid4().hex[:8]}"
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARBON_", "CELERY_"))}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench", "--entries", "10000", "--units", "40",
             "--sample", "300", "--workers", "2", "--chunk-size", "2000", "--skip-ingest",
             "--database-url", url, "--redis-url", REDIS, "--out", str(out)],
            cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
            timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        report = json.loads(out.read_text())
        run = report["pipeline"]["2"]
        assert run["same_rows_as_floor"] is True
        assert run["rows"] == report["rows"] == report["floor"]["check_rows"]
        assert run["statuses"] == ["SUCCESS"] * 8
        assert run["chunks"] >= 10  # the slices really were split across chunks
        assert report["baseline"]["entries"] == 300
        # Issue 14's comparison keys, and the one-factor revision recalculated fewer entries
        # than the slice holds yet left exactly the rows a full recalculation writes.
        for key in ("entries", "rows", "hardware_floor_s", "fk_floor_s", "per_entry_rows_per_s",
                    "pipeline_2w_s", "vs_hardware_floor", "vs_per_entry", "aggregation_share",
                    "orchestration_share", "incremental_one_factor_s", "full_it_slice_s",
                    "preview_one_factor_s",
                    "child_peak_rss_mb", "same_rows_as_floor"):
            assert report[key] is not None, key
        assert report["same_rows_as_floor"] is True
        assert report["hardware_floor"]["check_rows"] == report["rows"]
        one = report["incremental"]["one_factor"]
        assert one["status"] == "SUCCESS" and one["same_rows_as_full"] is True
        assert 0 < one["entries_recalculated"] < report["incremental"]["it_entries"]
        # The preview of that revision computed the whole `it` slice and saw the change.
        preview = report["incremental"]["preview"]
        assert preview["status"] == "SUCCESS"
        assert preview["entries_computed"] == report["incremental"]["it_entries"]
        assert 0 < preview["entries_affected"] < preview["entries_computed"]
    finally:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": db})
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}"'))
        admin.dispose()
