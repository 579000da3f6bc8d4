"""PostgreSQL advisory locks (transaction-scoped); no-ops on SQLite, whose single writer
already serialises everything."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Lock namespaces (first key of the two-int form), kept from the system we replace.
FACTORS_VS_RECALC = 1237   # factor/entry writes (exclusive) vs recalculation chunks (shared)
AGGREGATION_YEAR = 1236    # one aggregation writer per year on the shared report rows


def module_year_key(module_type_id: int, year: int) -> int:
    return module_type_id * 100_000 + year


def xact_lock(session: Session, namespace: int, key: int, *, shared: bool = False) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    session.execute(text(f"SELECT {fn}(:ns, :key)"), {"ns": namespace, "key": key})


def try_xact_lock(session: Session, namespace: int, key: int) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(:ns, :key)"), {"ns": namespace, "key": key}
        ).scalar()
    )
