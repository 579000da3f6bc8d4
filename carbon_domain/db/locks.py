"""Advisory locks (transaction-scoped on PostgreSQL; no-ops on SQLite, whose single writer
already serialises everything: ``db/dialect``) and the retry of transactions PostgreSQL
rolled back to break a deadlock or a serialization conflict.

Lock order (see ``services.pipelines``): advisory locks, then pipeline rows, then job rows,
each in ascending key order.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.emission_partitions import PARTITION_DDL_LOCK

log = logging.getLogger("carbon.locks")
T = TypeVar("T")

# Lock namespaces (first key of the two-int form), kept from the system we replace.
FACTORS_VS_RECALC = 1237   # factor/entry writes (exclusive) vs recalculation chunks (shared)
AGGREGATION_YEAR = 1236    # one aggregation writer per year on the shared report rows
RECALC_FINISH = 1238       # finishers of one (module, year): who requests the aggregation
RECONCILER = 1240          # one reconciler run at a time (beat does not prevent overlap)
EMISSION_PARTITIONS = PARTITION_DDL_LOCK  # DDL on the emission partitions (1241)
# 1242: beat's deployment-wide leader lock (db/leader.py, a session lock held while it runs).


def module_year_key(module_type_id: int, year: int) -> int:
    return module_type_id * 100_000 + year


def xact_lock(session: Session, namespace: int, key: int, *, shared: bool = False) -> None:
    dialect_of(session).xact_lock(session, namespace, key, shared=shared)


def try_xact_lock(session: Session, namespace: int, key: int) -> bool:
    return dialect_of(session).try_xact_lock(session, namespace, key)


# SQLSTATEs of a transaction PostgreSQL rolled back on its own: running it again is safe.
_RETRYABLE = {"40P01": "deadlock detected", "40001": "serialization failure"}


def conflict_of(exc: BaseException) -> str | None:
    """'deadlock detected' / 'serialization failure' when ``exc`` is one, else None."""
    orig = getattr(exc, "orig", None) if isinstance(exc, DBAPIError) else None
    return _RETRYABLE.get(getattr(orig, "pgcode", None) or "")


def retry_conflicts(fn: Callable[[], T], *, attempts: int = 5, base_delay: float = 0.05) -> T:
    """Run ``fn`` (one whole transaction) again when PostgreSQL aborted it to break a
    deadlock or a serialization conflict; any other error, or the last failure, is raised.
    Jittered backoff: 50, 100, 200, 400 ms."""
    for n in range(1, attempts + 1):
        try:
            return fn()
        except DBAPIError as exc:
            why = conflict_of(exc)
            if why is None or n == attempts:
                raise
            log.warning("%s (attempt %s/%s); retrying", why, n, attempts)
            time.sleep(base_delay * 2 ** (n - 1) * (0.5 + random.random()))
    raise AssertionError("unreachable")
