"""Factor persistence: in-place upsert keeping ids stable, and per-slice loading."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from carbon_domain.csv_rows import classification_key
from carbon_domain.db.models import Factor

FactorRow = tuple[int, int, dict[str, Any], dict[str, Any]]  # det, emission type, class., values
_BATCH = 2_000


def upsert_factor_rows(
    session: Session, *, year: int | None, job_id: int | None, rows: Iterable[FactorRow]
) -> int:
    """Insert or update factors in place; ids of existing factors never change."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    seen: dict[tuple[int, int, str], dict[str, Any]] = {}
    for det, et, classification, values in rows:
        key = classification_key(classification)
        # A file that repeats a factor keeps its last row, as an upsert would.
        seen[(det, et, key)] = {
            "data_entry_type_id": det, "emission_type_id": et, "year": year,
            "classification": json.loads(key), "classification_key": key, "values": values,
            "last_seen_job_id": job_id,
        }
    payload = list(seen.values())
    for i in range(0, len(payload), _BATCH):
        stmt = insert(Factor).values(payload[i:i + _BATCH])
        stmt = stmt.on_conflict_do_update(
            index_elements=["data_entry_type_id", "year", "emission_type_id", "classification_key"],
            set_={
                "values": stmt.excluded["values"],
                "classification": stmt.excluded.classification,
                "last_seen_job_id": stmt.excluded.last_seen_job_id,
                "updated_at": func.current_timestamp(),
            },
        )
        session.execute(stmt)
    return len(payload)


def load_factor_records(session: Session, det: int, year: int) -> list[tuple[int, int, dict[str, Any], dict[str, Any]]]:
    """Every factor of one (data entry type, year): (id, emission type, classification, values)."""
    q = select(Factor.id, Factor.emission_type_id, Factor.classification, Factor.values).where(
        Factor.data_entry_type_id == det, Factor.year == year
    ).order_by(Factor.id)
    return [tuple(r) for r in session.execute(q)]  # type: ignore[misc]


def factor_fingerprint(session: Session, dets: Sequence[int], year: int) -> tuple[Any, ...]:
    """Cheap change detector for a worker-side factor-index cache."""
    q = select(func.count(), func.max(Factor.id), func.max(Factor.updated_at)).where(
        Factor.data_entry_type_id.in_(dets), Factor.year == year
    )
    return tuple(session.execute(q).one())
