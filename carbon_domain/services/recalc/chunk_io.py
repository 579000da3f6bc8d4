"""A chunk's reads and writes: its entries in, its emission rows out (binary COPY), and
the entry lock that replaced the rows' foreign keys. The statements that differ by engine
(array parameters and COPY on PostgreSQL) are the dialect's (``db/dialect``). ``into``: the
stage table of a full recalculation (None: the slice's rows, in place)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from carbon_domain.db.dialect import dialect_of
from carbon_domain.json_types import JsonObject


def read_entries(session: Session, det: int, year: int, lo: int, hi: int,
                  ids: list[int] | None = None) -> list[tuple[int, JsonObject]]:
    return read_chunk(session, det, year, lo, hi, ids)[0]


def read_chunk(session: Session, det: int, year: int, lo: int, hi: int,
                ids: list[int] | None = None
                ) -> tuple[list[tuple[int, JsonObject]], dict[int, int]]:
    """The chunk's entries (its id range, or its listed ids for an incremental chunk) and
    each entry's report module."""
    if ids is not None and not ids:
        return [], {}
    return dialect_of(session).read_entries(session, det, year, lo, hi, ids)


def delete_rows(session: Session, det: int, year: int, lo: int, hi: int,
                 ids: list[int] | None) -> list[tuple[int, int, float]] | None:
    """Delete the chunk's old rows; an incremental chunk gets them back (entry, type, kg)
    to subtract from the slice's sums."""
    if ids is not None and not ids:
        return []
    if ids is not None:
        return dialect_of(session).delete_emissions_of(session, det, year, ids)
    # The outer BETWEEN is redundant for the result but not for the plan: without table
    # statistics (autovacuum off, or right after a bulk upload) PostgreSQL estimates 0.5 %
    # of the emission rows per entry id and hash-joins against a seq scan of the whole
    # table — 28M rows, 3.5-10 s per chunk at 8M entries, so a seed slowed down as its table
    # grew. Bounded, it is a nested loop over the entry index with or without statistics.
    session.execute(text(
        "DELETE FROM data_entry_emissions WHERE data_entry_id IN (SELECT id FROM data_entries"
        " WHERE data_entry_type_id = :d AND year = :y AND id BETWEEN :lo AND :hi)"
        " AND data_entry_id BETWEEN :lo AND :hi AND data_entry_type_id = :d AND year = :y"
    ), {"d": det, "y": year, "lo": lo, "hi": hi})
    return None


def hold_entries(session: Session, det: int, year: int, lo: int, hi: int,
                  ids: list[int] | None, crm_of: dict[int, int], into: str | None = None
                  ) -> None:
    """What the rows' foreign key used to guarantee, for the price of one statement (10 ms
    per 10,000 entries) instead of a check per row: lock the chunk's entries FOR KEY SHARE
    until commit, so a concurrent deletion waits and its trigger then removes these rows
    (from the slice, and from any stage of it: migration 0014); rows of an entry deleted
    since it was read are removed here."""
    gone = set(crm_of) - dialect_of(session).hold_entries(session, det, year, lo, hi, ids)
    if gone:
        dialect_of(session).delete_emissions_of(session, det, year, sorted(gone), into=into)
        for i in gone:
            crm_of.pop(i)


def write_rows(session: Session, det: int, year: int, rows: list[tuple[Any, ...]],
               into: str | None = None) -> None:
    """Bulk insert emission rows: binary COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    dialect_of(session).insert_emission_rows(session, det, year, rows, into=into)
