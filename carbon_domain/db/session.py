"""Engine and session factory, one per database URL per process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from carbon_domain.settings import get_settings, normalize_database_url

# libpq waits forever for an unreachable host by default; a command should say so instead.
CONNECT_TIMEOUT_SECONDS = 10


class _EngineFor:
    """``engine_for(url)``: the process's engine for a database URL (normalised first, so two
    spellings share one pool); ``engine_for.cache_clear()`` forgets them (tests switch URLs)."""

    def __call__(self, url: str) -> Engine:
        return _engine(normalize_database_url(url))

    def cache_clear(self) -> None:
        _engine.cache_clear()


engine_for = _EngineFor()


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the embedded worker threads read while one writes; FKs are off by
            # default in SQLite and our cascades depend on them.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    connect_args = {} if "connect_timeout" in url else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                         connect_args=connect_args)


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=engine_for(url), expire_on_commit=False)


def new_session() -> Session:
    return _factory(get_settings().database_url)()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on any exception."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def check_database() -> None:
    """Connect once and run ``SELECT 1``: OperationalError when the database is unreachable
    (services call it at start so a bad URL is one clear line, not a crash later)."""
    engine = get_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        # A pooled connection must not outlive the check: `carbon worker` forks its pool
        # children after it, and a psycopg2 connection shared across a fork corrupts both
        # ("error with status PGRES_TUPLES_OK and no message from the libpq").
        engine.dispose()


def database_reachable() -> bool:
    """One ``SELECT 1`` on a pooled connection: the health check's database probe."""
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - a probe reports, it never raises
        return False
