"""bench/cpu_split.py puts a run's CPU on the right side: a busy worker process on the
workers', a busy PostgreSQL backend of the bench database on PostgreSQL's, and neither the
backends of another database nor processes that are not the workers'."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.cpu_split import CpuSplit

pytestmark = pytest.mark.integration

_SPIN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


def _spin(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _SPIN.format(s=seconds)])


def test_worker_and_backend_cpu_land_on_their_sides(pg_database: str) -> None:
    from tests.conftest import PG_URL

    database = str(make_url(PG_URL).database)
    engine = create_engine(PG_URL)
    worker = _spin(0.8)
    stranger = _spin(0.8)  # not one of the "workers": counted as other
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))  # the backend exists before the split starts
            with CpuSplit(database, lambda: [worker.pid]) as split:
                c.execute(text("SELECT count(*) FROM generate_series(1, 6000000)")).scalar()
                worker.wait(timeout=60)
                stranger.wait(timeout=60)
        got = split.result()
    finally:
        for p in (worker, stranger):
            if p.poll() is None:
                p.kill()
        engine.dispose()
    assert got["workers_cpu_s"] >= 0.5, got          # the spinning "worker" (0.8 s)
    assert got["workers_cpu_s"] <= 1.5, got          # and not the stranger's too
    assert got["postgres_cpu_s"] >= 0.2, got         # the backend's generate_series
    assert got["other_cpu_s"] >= 0.4, got            # the stranger
    assert got["cores_s"] >= got["wall_s"], got


def test_a_backend_of_another_database_is_not_counted(pg_database: str) -> None:
    from tests.conftest import PG_ADMIN

    engine = create_engine(PG_ADMIN)  # the maintenance database, not ours
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
            with CpuSplit("carbon_no_such_database_here", lambda: []) as split:
                c.execute(text("SELECT count(*) FROM generate_series(1, 6000000)")).scalar()
        got = split.result()
    finally:
        engine.dispose()
    assert got["postgres_cpu_s"] == 0.0 and got["workers_cpu_s"] == 0.0, got
