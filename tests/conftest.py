"""Test harness: a throwaway PostgreSQL database, a private broker (Redis database numbers and
a key prefix, or a RabbitMQ vhost of its own) and a real in-process Celery worker. No mocks of
the database, broker or Celery.

``CARBON_TEST_BROKER=amqp`` runs the session on RabbitMQ (``TEST_RABBITMQ``, default
guest/guest on 127.0.0.1:5672): the session creates a vhost named after its database with
``rabbitmqctl`` and deletes it at the end, so concurrent sessions never share a queue. The
result backend stays Redis on both brokers (chord state).

Environment must be set before anything imports ``carbon_domain.settings``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings as hypothesis_settings

# Property tests check results, not speed (speed lives in bench/): Hypothesis's default 200 ms
# deadline per example failed a pure-Python JSON property under CI's load (264.84 ms on its
# first call, 8.76 ms on the next), so no example has a deadline here.
hypothesis_settings.register_profile("carbon", deadline=None)
hypothesis_settings.load_profile("carbon")

REDIS = os.environ.get("TEST_REDIS", "redis://127.0.0.1:6379")
PG_ADMIN = os.environ.get("TEST_PG_ADMIN", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
TEST_DB = f"carbon_test_{uuid.uuid4().hex[:8]}"
PG_URL = PG_ADMIN.rsplit("/", 1)[0] + f"/{TEST_DB}"
BROKER_KIND = os.environ.get("CARBON_TEST_BROKER", "redis").strip().lower() or "redis"
if BROKER_KIND not in ("redis", "amqp"):
    raise SystemExit(f"CARBON_TEST_BROKER={BROKER_KIND!r}: use redis or amqp")
RABBITMQ = os.environ.get("TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")
RABBITMQ_USER = RABBITMQ.split("//", 1)[1].split(":", 1)[0]
TEST_VHOST = TEST_DB
# Redis databases no developer worker consumes (broker 11, results 12).
BROKER_URL = f"{RABBITMQ}/{TEST_VHOST}" if BROKER_KIND == "amqp" else f"{REDIS}/11"
BACKEND_URL = f"{REDIS}/12"

os.environ.update({
    "CARBON_DATABASE_URL": PG_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    "CELERY_RESULT_BACKEND": BACKEND_URL,
    "CARBON_CHUNK_SIZE": os.environ.get("CARBON_CHUNK_SIZE", "50"),
    # Chunks of exactly CARBON_CHUNK_SIZE: the progress, abort and console tests count chunks
    # of a 150-entry slice; growing chunks by rows per entry (services/recalc/chunk_sizing.py)
    # is tested with its own setting in tests/integration/test_chunk_sizing.py.
    "CARBON_CHUNK_MAX_GROWTH": os.environ.get("CARBON_CHUNK_MAX_GROWTH", "1"),
    "CARBON_ENV": "test",
    "CARBON_DISPATCH_GRACE_SECONDS": "0",
    # Concurrent test sessions share Redis databases 11/12: a per-session key prefix keeps
    # one session's worker from consuming another session's messages.
    "CARBON_REDIS_KEY_PREFIX": f"{TEST_DB}:",
})
os.environ.pop("CARBON_FLOWER_PASSWORD", None)

REQUIRE = os.environ.get("CARBON_REQUIRE_SERVICES") == "1"


def production_urls(password: str = "pw-" + uuid.uuid4().hex[:12]) -> dict[str, str]:
    """This session's database and Redis URLs with a password in them, as production
    requires. The test services do not check it: PostgreSQL trusts local connections and
    Redis without requirepass accepts any password. (RabbitMQ does check: a RabbitMQ session
    keeps its guest broker URL, which production refuses.)"""
    out = {"CARBON_DATABASE_URL": PG_URL.replace("postgres@", f"postgres:{password}@", 1),
           "CELERY_RESULT_BACKEND": BACKEND_URL.replace("redis://", f"redis://:{password}@", 1)}
    if BROKER_KIND == "redis":
        out["CELERY_BROKER_URL"] = BROKER_URL.replace("redis://", f"redis://:{password}@", 1)
    return out


def rabbitmqctl(*args: str, check: bool = True) -> str:
    out = subprocess.run(["rabbitmqctl", "--quiet", *args], capture_output=True, text=True,
                         timeout=60, check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {out.stderr or out.stdout}")
    return out.stdout


def _services_problem() -> str | None:
    try:
        import redis
        redis.Redis.from_url(BACKEND_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"Redis unavailable at {REDIS}: {exc}"
    if BROKER_KIND == "amqp":
        try:
            rabbitmqctl("add_vhost", TEST_VHOST)
            rabbitmqctl("set_permissions", "-p", TEST_VHOST, RABBITMQ_USER, ".*", ".*", ".*")
            from kombu import Connection
            with Connection(BROKER_URL, connect_timeout=3) as conn:
                conn.ensure_connection(max_retries=1, timeout=5)
        except Exception as exc:  # noqa: BLE001
            return f"RabbitMQ unavailable at {RABBITMQ}: {exc}"
    try:
        from sqlalchemy import create_engine, text
        with create_engine(PG_ADMIN).connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL unavailable at {PG_ADMIN}: {exc}"
    return None


@pytest.fixture(scope="session")
def services() -> Iterator[None]:
    problem = _services_problem()
    try:
        if problem:
            if REQUIRE:
                pytest.fail(problem)
            pytest.skip(problem)
        yield
    finally:
        if BROKER_KIND == "amqp":
            # Its queues, messages and connections go with it.
            rabbitmqctl("delete_vhost", TEST_VHOST, check=False)


@pytest.fixture(scope="session")
def pg_database(services: None) -> Iterator[str]:
    """A fresh PostgreSQL database migrated to head; dropped at the end of the session."""
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{TEST_DB}"'))
    from carbon_domain.db import migrate
    migrate.upgrade(PG_URL)
    yield PG_URL
    if "carbon_api.console.changes" in sys.modules:
        # The console's change listener (a thread of this process) would try to reconnect
        # to the dropped database, warning every few seconds until the process ends.
        sys.modules["carbon_api.console.changes"].changes.stop()
    from carbon_domain.db.session import engine_for
    engine_for.cache_clear()
    with admin.connect() as c:
        c.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": TEST_DB})
        c.execute(text(f'DROP DATABASE IF EXISTS "{TEST_DB}"'))
    admin.dispose()


# A table with more rows than this is TRUNCATEd; the others are emptied by DELETE.
_TRUNCATE_ABOVE = 5_000
# Rows deleted since the last VACUUM: this machine's PostgreSQL runs without autovacuum, so the
# dead rows the DELETEs leave are vacuumed by the suite itself past this many.
_VACUUM_AFTER = 50_000
_deleted = 0


def truncate_all() -> None:
    """Every table empty and every sequence back at its start, as ``TRUNCATE … RESTART
    IDENTITY`` leaves them. Nearly every test starts here, so it is done cheaply: TRUNCATE
    gives each of the schema's ~390 relations (the emission rows' partitions and indexes
    included) a new file, 0.34–0.50 s per test on 5 busy test processes, where a DELETE of
    the few rows a test leaves takes 0.01–0.02 s. The tables are first locked as TRUNCATE
    locks them (a task still writing in a transaction is waited for, as before); triggers and
    foreign keys are off for the DELETEs (``session_replication_role``), and a table a test
    filled (a seed, a bench smoke) is still TRUNCATEd, so no DELETE leaves many dead rows."""
    from sqlalchemy.exc import OperationalError

    # The LOCK takes the tables one by one; a task still finishing from the test before (the
    # session's worker) may hold one and want another it already took: PostgreSQL then
    # aborts one of the two (CI, 2026-12-07: this LOCK, "deadlock detected" at a browser
    # test's setup). The task goes on and ends; taking the locks again then succeeds.
    for attempt in range(1, _LOCK_ATTEMPTS + 1):
        try:
            return _empty_every_table()
        except OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) != "40P01" or attempt == _LOCK_ATTEMPTS:
                raise


_LOCK_ATTEMPTS = 5


def _empty_every_table() -> None:
    global _deleted
    from sqlalchemy import text

    from carbon_domain.db.models import Base
    from carbon_domain.db.session import get_engine
    tables = [t.name for t in Base.metadata.sorted_tables]
    quoted = [f'"{t}"' for t in tables]
    with get_engine().begin() as c:
        c.execute(text(f"LOCK TABLE {', '.join(quoted)} IN ACCESS EXCLUSIVE MODE"))
        sizes = c.execute(text("SELECT " + ", ".join(
            f"(SELECT count(*) FROM (SELECT 1 FROM {q} LIMIT {_TRUNCATE_ABOVE + 1}) x)"
            for q in quoted))).one()
        big = [q for q, n in zip(quoted, sizes, strict=True) if n > _TRUNCATE_ABOVE]
        if big:
            c.execute(text(f"TRUNCATE {', '.join(big)} CASCADE"))
        c.execute(text("SET LOCAL session_replication_role = replica"))
        for q, n in zip(quoted, sizes, strict=True):
            if n and q not in big:
                _deleted += c.execute(text(f"DELETE FROM {q}")).rowcount
        c.execute(text(
            "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false)"
            " FROM pg_sequences WHERE schemaname = current_schema()"))
    if _deleted > _VACUUM_AFTER:
        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM"))
        _deleted = 0


@pytest.fixture
def db(pg_database: str) -> Iterator[str]:
    """An empty database for this test."""
    truncate_all()
    yield pg_database


@pytest.fixture(scope="session")
def celery_app_real(pg_database: str):  # type: ignore[no-untyped-def]
    import celery.contrib.testing.tasks  # noqa: F401 - registers celery.ping for start_worker

    import tests.celery_tasks  # noqa: F401 - registers the harness checks (echo, collect)
    from carbon_tasks import app
    return app


@pytest.fixture(scope="session")
def worker(celery_app_real):  # type: ignore[no-untyped-def]
    """A real Celery worker (threads pool, 2 slots) consuming every queue on Redis."""
    from celery.contrib.testing.worker import start_worker

    import celeryconfig

    with start_worker(
        celery_app_real, pool="threads", concurrency=3, perform_ping_check=True,
        shutdown_timeout=30, queues=[*(q.name for q in celeryconfig.task_queues), "celery"],
    ) as w:
        yield w


# The longest files of phase 2 (scripts/test), seconds per file in a CI run on this machine
# (2026-12-07, 3 processes). pytest-xdist's ``--dist loadfile`` hands files out in collection
# order, so these go first: one started last would run alone at the end of the run (the seed
# file alone is ~5 minutes of one process).
LONGEST_FIRST = (
    "tests/integration/test_seed_cli.py",  # 292 s
    "tests/integration/test_bench_smoke.py",  # 170 s
    "tests/integration/test_facility_follow.py",  # 166 s
    "tests/browser/test_data_page_browser.py",  # 121 s
    "tests/browser/test_console_browser.py",  # 119 s
    "tests/integration/test_incremental_recalc.py",  # 116 s
    "tests/unit/test_imports.py",  # 87 s
    "tests/console/test_display_state.py",  # 79 s
    "tests/integration/test_results_out.py",  # 72 s
    "tests/integration/test_upload_preview.py",  # 70 s
)


# The fault suite's RabbitMQ pass (tests/fault/second_broker.py): started in the background
# once this session's fault scenarios are done, waited for by the last test of the run.
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from tests.fault import second_broker
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
    second_broker.arrange(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    from tests.fault import second_broker
    second_broker.collected(session.items)


def pytest_runtest_logfinish(nodeid: str) -> None:
    from tests.fault import second_broker
    second_broker.after_test(nodeid)


def pytest_sessionfinish() -> None:
    from tests.fault import second_broker
    second_broker.stop()
