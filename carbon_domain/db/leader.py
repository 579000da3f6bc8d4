"""A deployment-wide leader lock: a PostgreSQL session-level advisory lock held on its own
connection for as long as the process runs (``carbon beat``: exactly one per deployment).

It works whatever the broker (Redis or RabbitMQ), since every deployment has the database.
PostgreSQL releases a session lock the moment its connection ends, so a crashed leader frees
it at once (a killed process closes its socket) or, when its host vanishes from the network,
once TCP keepalives give up on it (about 25 s with the settings below). The holder is named
by the connection's ``application_name``, which ``pg_stat_activity`` shows to a contender.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

log = logging.getLogger("carbon.leader")

# Advisory lock namespace (first key of the two-int form), next to those of db/locks.py and
# distinct from all of them (tests/integration/test_lock_namespaces.py): it shared 1241 with
# the emission partitions' DDL lock, so a running beat froze every first recalculation.
BEAT_LEADER = 1242
# Detect a dead peer in ~25 s (idle 10 s, then 3 probes 5 s apart).
_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
              "keepalives_count": 3}

_HOLDER_SQL = text(
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :ns AND l.objid = :key"
    " AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database"
    " WHERE datname = current_database())")


class LeaderLock:
    """``pg_try_advisory_lock(namespace, key)`` on a dedicated connection named ``me``."""

    def __init__(self, database_url: str, me: str, *, namespace: int = BEAT_LEADER,
                 key: int = 0) -> None:
        self.me = me[:63]  # PostgreSQL truncates application_name to 63 bytes
        self.namespace, self.key = namespace, key
        self.engine: Engine = create_engine(
            database_url, poolclass=NullPool,
            connect_args={"application_name": self.me, "connect_timeout": 5, **_KEEPALIVE})
        self.conn: Connection | None = None

    def _params(self) -> dict[str, Any]:
        return {"ns": self.namespace, "key": self.key}

    def try_acquire(self) -> bool:
        """Take the lock if free (a new connection if the old one is gone)."""
        self._close()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"),
                                self._params()).scalar())
        if got:
            self.conn = conn
        else:
            conn.close()
        return got

    def holder(self) -> str | None:
        """The ``application_name`` of whoever holds the lock, or None if it is free."""
        with self.engine.connect() as conn:
            return conn.execute(_HOLDER_SQL, self._params()).scalar()

    def still_held(self) -> bool:
        """Our connection answers (so the lock it holds is still ours)."""
        if self.conn is None:
            return False
        try:
            self.conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means the session (and lock) is gone
            self._close()
            return False

    def _close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self.conn = None

    def release(self) -> None:
        """Closing the session releases the lock."""
        self._close()
        self.engine.dispose()
