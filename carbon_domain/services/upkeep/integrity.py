"""Consistency check of the emission rows, which carry no foreign keys (migration 0008).

The guarantees that replaced the two FK checks per row: entry deletion removes the entry's
rows in the same statement (a trigger on data_entries), factors are retired rather than
deleted (and a deleted factor's rows go with it, another trigger). This check proves it on a
live database: every count must be zero. ``carbon db check`` prints it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class IntegrityReport:
    rows_without_entry: int    # data_entry_id names no data entry
    rows_without_factor: int   # primary_factor_id names no factor
    rows_without_scope: int    # a stored row must carry scope 1, 2 or 3

    @property
    def ok(self) -> bool:
        return not any(asdict(self).values())

    def as_dict(self) -> dict[str, int | bool]:
        return {**asdict(self), "ok": self.ok}


def check_emission_integrity(session: Session) -> IntegrityReport:
    """Count orphan and malformed emission rows (anti-joins on the rows' two indexes)."""
    no_entry, no_factor, no_scope = session.execute(text(
        "SELECT"
        " (SELECT count(*) FROM data_entry_emissions e WHERE NOT EXISTS"
        "   (SELECT 1 FROM data_entries d WHERE d.id = e.data_entry_id)),"
        " (SELECT count(*) FROM data_entry_emissions e WHERE e.primary_factor_id IS NOT NULL"
        "   AND NOT EXISTS (SELECT 1 FROM factors f WHERE f.id = e.primary_factor_id)),"
        " (SELECT count(*) FROM data_entry_emissions e WHERE e.scope NOT IN (1, 2, 3))"
    )).one()
    return IntegrityReport(int(no_entry), int(no_factor), int(no_scope))
