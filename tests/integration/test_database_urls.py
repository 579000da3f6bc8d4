"""Database URLs (issue 11 item 6): the `postgresql://` and `postgres://` forms hosting
platforms hand out work with the installed driver (psycopg2), and an unusable URL or an
unreachable database is one clear line from every command — no traceback unless
CARBON_DEBUG=1 — with a non-zero exit. Every command runs as a real `carbon` subprocess.

On the code before issue 11 these fail: `postgresql://` died with ModuleNotFoundError
(psycopg 3) in a long traceback, `postgres://` with NoSuchModuleError, and `carbon worker` /
`carbon api` started on an unreachable database (the subprocess timeout fails the test).
"""

from __future__ import annotations

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
SECRET = "hunter2-secret"  # a fixture secret test_security knows
UNREACHABLE = f"postgresql://carbon:{SECRET}@127.0.0.1:1/carbon"
UNUSABLE = {
    "not a URL": "definitely not a url",
    "unknown kind": f"oracle2://carbon:{SECRET}@db/carbon",
    "driver not installed": f"mysql://carbon:{SECRET}@db/carbon",
    "psycopg 3 not installed": f"postgresql+psycopg://carbon:{SECRET}@db/carbon",
}


def _carbon(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("carbon")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "carbon_api.cli"]
    child = {k: v for k, v in os.environ.items() if k != "CARBON_DEBUG"}
    child.update(env)
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout,
                          env=child, cwd=ROOT)


def _one_line(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got: {proc.stderr!r}"
    assert SECRET not in out
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]
    return lines[0]


@pytest.fixture
def fresh_databases(services: None) -> Iterator[list[str]]:
    names = [f"carbon_url_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for name in names:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    yield names
    with admin.connect() as c:
        for name in names:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": name})
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_plain_postgres_urls_work(fresh_databases: list[str], scheme: str) -> None:
    from carbon_domain.db import migrate

    host = PG_ADMIN.split("://", 1)[1].rsplit("/", 1)[0]       # postgres@127.0.0.1:5432
    name = fresh_databases[0 if scheme == "postgresql" else 1]
    url = f"{scheme}://{host}/{name}"
    up = _carbon("db", "upgrade", CARBON_DATABASE_URL=url)
    assert up.returncode == 0, up.stderr + up.stdout
    heads = migrate.current_heads()
    assert all(f"{h} (head)" in up.stdout for h in heads), up.stdout
    assert "postgresql+psycopg2://" in up.stdout             # what it was normalised to
    assert _carbon("db", "current", "--check", CARBON_DATABASE_URL=url).returncode == 0
    # Sessions (not only Alembic) use the URL too: a token lands in that database.
    made = _carbon("tokens", "create", "--name", f"{scheme}-user", "--role", "viewer",
                   CARBON_DATABASE_URL=url)
    assert made.returncode == 0, made.stderr
    admin = create_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    with admin.connect() as c:
        assert c.execute(text("SELECT name FROM api_tokens")).scalars().all() == [
            f"{scheme}-user"]
    admin.dispose()


@pytest.mark.parametrize("command", [
    ["db", "upgrade"], ["db", "current"], ["jobs"], ["pipelines"], ["status", "-y", "2025"],
    ["reconcile"], ["worker", "-c", "1"], ["api", "--port", "1"],
], ids=lambda c: " ".join(c))
def test_unreachable_database_is_one_line(services: None, command: list[str]) -> None:
    line = _one_line(_carbon(*command, CARBON_DATABASE_URL=UNREACHABLE),
                     "cannot reach database", "127.0.0.1:1")
    assert "***" in line or "carbon@" in line


@pytest.mark.parametrize("name", list(UNUSABLE))
@pytest.mark.parametrize("command", [
    ["db", "upgrade"], ["jobs"], ["worker"], ["beat", "--lock-wait", "0"], ["api"],
], ids=lambda c: " ".join(c))
def test_unusable_url_is_one_line(services: None, name: str, command: list[str]) -> None:
    _one_line(_carbon(*command, CARBON_DATABASE_URL=UNUSABLE[name]),
              "invalid configuration", "CARBON_DATABASE_URL")


def test_debug_shows_the_traceback(services: None) -> None:
    proc = _carbon("jobs", CARBON_DATABASE_URL=UNREACHABLE, CARBON_DEBUG="1")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_a_database_behind_the_code_is_one_line(fresh_databases: list[str]) -> None:
    """A release upgraded but not migrated: services refuse to start (naming the missing
    migrations), and any other command says the schema is behind instead of a traceback.
    0008 is the schema before 0009 added the job columns `carbon jobs` reads."""
    from carbon_domain.db import migrate

    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{fresh_databases[0]}"
    up = _carbon("db", "upgrade", "--revision", "0008", CARBON_DATABASE_URL=url)
    assert up.returncode == 0, up.stderr + up.stdout
    assert migrate.pending_revisions(url)[0] == "0009"
    broker = {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
              "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/15"}
    for command in (["worker", "-c", "1"], ["api", "--port", "1"]):
        _one_line(_carbon(*command, CARBON_DATABASE_URL=url, **broker),
                  "cannot start", "lacks migration(s) 0009", "carbon db upgrade")
    _one_line(_carbon("jobs", CARBON_DATABASE_URL=url), "is behind this version",
              "covers_input_job_id", "carbon db upgrade")
    assert _carbon("db", "upgrade", CARBON_DATABASE_URL=url).returncode == 0
    assert migrate.pending_revisions(url) == []


@pytest.mark.parametrize("command", [
    ["db", "upgrade"], ["status", "-y", "2025"], ["api", "--port", "1"],
], ids=lambda c: " ".join(c))
def test_a_database_not_created_yet_says_to_create_it(services: None,
                                                      command: list[str]) -> None:
    """Day one on a fresh PostgreSQL server: the URL names a database nobody created. The
    migrations create the tables, not the database (operating.md), yet `carbon db upgrade`
    said only "cannot reach database at …: … database "carbon_…" does not exist"."""
    name = f"carbon_never_{uuid.uuid4().hex[:8]}"
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    line = _one_line(_carbon(*command, CARBON_DATABASE_URL=url),
                     f'database "{name}" does not exist')
    assert f"create it first (`createdb -h 127.0.0.1 -p 5432 -U postgres {name}`" in line
    assert line.endswith("then `carbon db upgrade`"), line
