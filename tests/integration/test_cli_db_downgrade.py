"""`carbon db downgrade -1`, the example its own help gives ("Target revision, e.g. -1 or
base."), migrates one revision down. Before, Click read `-1` as an unknown option: "No such
option: -1", exit 2, and the only way was `carbon db downgrade -- -1`. Real `carbon`
subprocesses against a PostgreSQL database of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("TEST_PG_ADMIN",
                          "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def database_url(services: None) -> Iterator[str]:
    name = f"carbon_downgrade_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": name})
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _carbon(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("carbon")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "carbon_api.cli"]
    env = {k: v for k, v in os.environ.items() if k != "CARBON_DEBUG"}
    env.update(CARBON_DATABASE_URL=url, CARBON_ENV="development")
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=ROOT)


def _revision(url: str) -> tuple[str, str]:
    proc = _carbon(url, "db", "current", "--json")
    assert proc.returncode == 0, proc.stderr
    state = json.loads(proc.stdout)
    return state["current"][0], state["head"][0]


def test_downgrade_takes_a_relative_revision(database_url: str) -> None:
    assert _carbon(database_url, "db", "upgrade").returncode == 0
    current, head = _revision(database_url)
    assert current == head

    proc = _carbon(database_url, "db", "downgrade", "-1", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    one_down, _ = _revision(database_url)
    assert int(one_down) == int(head) - 1

    # The option may come first too.
    proc = _carbon(database_url, "db", "downgrade", "--yes", "-1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert int(_revision(database_url)[0]) == int(head) - 2

    assert _carbon(database_url, "db", "upgrade").returncode == 0
    assert _revision(database_url)[0] == head
