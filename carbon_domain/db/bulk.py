"""The one place that knows the dialect and the raw COPY protocol.

PostgreSQL gets the fast paths (COPY, ``jsonb`` functions, ``SKIP LOCKED``); SQLite, the
embedded default, gets plain executemany. COPY goes through the session's raw DBAPI
connection, so its errors are translated here as SQLAlchemy would translate its own.
"""

from __future__ import annotations

import io
from typing import IO

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def copy_escape(value: str) -> str:
    """A value in COPY's text format: backslashes, tabs and line breaks escaped."""
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def copy_from(session: Session, statement: str, buf: io.StringIO | IO[str]) -> None:
    """COPY on the session's raw DBAPI connection, its errors translated as SQLAlchemy's own
    would be: a lost connection (server restart, ``pg_terminate_backend``) becomes an
    ``OperationalError`` that the task retries, and the dead connection is invalidated so the
    rollback and the retry do not trip over it."""
    conn = session.connection()
    dialect = conn.dialect
    dbapi = dialect.loaded_dbapi
    raw = conn.connection.dbapi_connection
    try:
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.copy_expert(statement, buf)
    except dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, raw, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(statement, None, exc, dbapi.Error,
                                  connection_invalidated=lost, dialect=dialect) from exc
