"""Consistency check of the emission rows, which carry no foreign keys (migration 0008).

The guarantees that replaced the two FK checks per row: entry deletion removes the entry's
rows in the same statement (a trigger on data_entries), factors are retired rather than
deleted (and a deleted factor's rows go with it, another trigger). This check proves it on a
live database: every count must be zero. ``carbon db check`` prints it. Since migration
0014 a row also carries its entry's type and year (the partition it lives in): a row filed
under another slice than its entry's would be read by the wrong slice, so it is counted.
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
    rows_in_wrong_slice: int = 0  # type or year differ from its entry's

    @property
    def ok(self) -> bool:
        return not any(asdict(self).values())

    def as_dict(self) -> dict[str, int | bool]:
        return {**asdict(self), "ok": self.ok}


def check_emission_integrity(session: Session) -> IntegrityReport:
    """Count orphan and malformed emission rows (anti-joins on the rows' two indexes)."""
    no_entry, no_factor, no_scope, misfiled = session.execute(text(
        "SELECT"
        " (SELECT count(*) FROM data_entry_emissions e WHERE NOT EXISTS"
        "   (SELECT 1 FROM data_entries d WHERE d.id = e.data_entry_id)),"
        " (SELECT count(*) FROM data_entry_emissions e WHERE e.primary_factor_id IS NOT NULL"
        "   AND NOT EXISTS (SELECT 1 FROM factors f WHERE f.id = e.primary_factor_id)),"
        " (SELECT count(*) FROM data_entry_emissions e WHERE e.scope NOT IN (1, 2, 3)),"
        " (SELECT count(*) FROM data_entry_emissions e JOIN data_entries d"
        "   ON d.id = e.data_entry_id WHERE d.data_entry_type_id <> e.data_entry_type_id"
        "   OR d.year <> e.year)"
    )).one()
    return IntegrityReport(int(no_entry), int(no_factor), int(no_scope), int(misfiled))
