"""A chunk's reads and writes: its entries in, its emission rows out (binary COPY), and
the entry lock that replaced the rows' foreign keys. PostgreSQL gets array parameters and
COPY; SQLite (the embedded default) gets plain statements."""

from __future__ import annotations

import io
import json
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from carbon_domain import fast_json
from carbon_domain.db import bulk
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
    if _postgres(session):
        return _read_raw(session, det, year, lo, hi, ids)
    cols = "SELECT id, data, carbon_report_module_id FROM data_entries"
    if ids is not None:
        rows = session.execute(text(
            f"{cols} WHERE data_entry_type_id = :d AND year = :y AND id IN :ids ORDER BY id")
            .bindparams(bindparam("ids", expanding=True)), {"d": det, "y": year, "ids": ids})
    else:
        rows = session.execute(text(
            f"{cols} WHERE data_entry_type_id = :d AND year = :y AND id BETWEEN :lo AND :hi"
            " ORDER BY id"), {"d": det, "y": year, "lo": lo, "hi": hi})
    entries, crm_of = [], {}
    for i, data, crm in rows:
        entries.append((i, json.loads(data) if isinstance(data, str) else data))
        crm_of[i] = crm
    return entries, crm_of


def _read_raw(session: Session, det: int, year: int, lo: int, hi: int, ids: list[int] | None
              ) -> tuple[list[tuple[int, JsonObject]], dict[int, int]]:
    """The PostgreSQL read on the session's DBAPI cursor (same transaction), ``data`` as
    text parsed here: what psycopg2's jsonb typecaster does, without its per-value Python
    callback and SQLAlchemy's per-row result processing. 10,000 `it` entries: 73-88 ms →
    50-63 ms client CPU (min of 7, load ~4); orjson (``fast_json``) then took the parse
    from 25 to 9 ms."""
    if ids is not None:
        # One array parameter (10,000 bound literals cost more to send and plan than the
        # lookups), bounded by the ids' range so the plan is an index scan whether or not
        # the table has statistics: without them (autovacuum off, as on the bench machine)
        # the unnest join hashed the whole 102k-entry slice, 0.35-0.44 s per chunk; this
        # form 0.05-0.17 s for 6,404 ids at 1M (A/B, load 2.5).
        sql = ("SELECT id, data::text, carbon_report_module_id FROM data_entries WHERE"
               " id = ANY(%s::bigint[]) AND data_entry_type_id = %s AND year = %s"
               " AND id BETWEEN %s AND %s ORDER BY id")
        params: tuple[Any, ...] = (list(ids), det, year, min(ids), max(ids))
    else:
        sql = ("SELECT id, data::text, carbon_report_module_id FROM data_entries WHERE"
               " data_entry_type_id = %s AND year = %s AND id BETWEEN %s AND %s ORDER BY id")
        params = (det, year, lo, hi)
    rows = bulk.fetch_raw(session, sql, params)
    loads = fast_json.loads
    return [(i, loads(d)) for i, d, _ in rows], {i: crm for i, _, crm in rows}


def delete_rows(session: Session, det: int, year: int, lo: int, hi: int,
                 ids: list[int] | None) -> list[tuple[int, int, float]] | None:
    """Delete the chunk's old rows; an incremental chunk gets them back (entry, type, kg)
    to subtract from the slice's sums."""
    if ids is not None and not ids:
        return []
    if ids is not None and _postgres(session):
        # = ANY(array): 0.02-0.05 s for 10,000 entries, IN (10,000 literals) 0.3-0.7 s. The
        # BETWEEN keeps it an index scan without statistics: alone, = ANY was estimated at
        # 2.28M of 2.7M rows and became a seq scan, 0.56-0.90 s → 0.08-0.17 s for 6,404 ids
        # (1M entries, unanalyzed, load 2.5); 0.07-0.22 s → 0.05-0.12 s analyzed.
        return [tuple(r) for r in session.execute(text(
            "DELETE FROM data_entry_emissions WHERE data_entry_id = ANY(CAST(:ids AS"
            " bigint[])) AND data_entry_id BETWEEN :lo AND :hi"
            " RETURNING data_entry_id, emission_type_id, kg_co2eq"),
            {"ids": ids, "lo": min(ids), "hi": max(ids)})]
    if ids is not None:
        return [tuple(r) for r in session.execute(text(
            "DELETE FROM data_entry_emissions WHERE data_entry_id IN :ids"
            " RETURNING data_entry_id, emission_type_id, kg_co2eq")
            .bindparams(bindparam("ids", expanding=True)), {"ids": ids})]
    # The outer BETWEEN is redundant for the result but not for the plan: without table
    # statistics (autovacuum off, or right after a bulk upload) PostgreSQL estimates 0.5 %
    # of the emission rows per entry id and hash-joins against a seq scan of the whole
    # table — 28M rows, 3.5-10 s per chunk at 8M entries, so a seed slowed down as its table
    # grew. Bounded, it is a nested loop over the entry index with or without statistics.
    session.execute(text(
        "DELETE FROM data_entry_emissions WHERE data_entry_id IN (SELECT id FROM data_entries"
        " WHERE data_entry_type_id = :d AND year = :y AND id BETWEEN :lo AND :hi)"
        " AND data_entry_id BETWEEN :lo AND :hi"
    ), {"d": det, "y": year, "lo": lo, "hi": hi})
    return None


HOLD_MARK = "/* chunk rows written */"


def _postgres(session: Session) -> bool:
    return bulk.is_postgres(session)


def hold_entries(session: Session, det: int, year: int, lo: int, hi: int,
                  ids: list[int] | None, crm_of: dict[int, int]) -> None:
    """What the rows' foreign key used to guarantee, for the price of one statement (10 ms
    per 10,000 entries) instead of a check per row: lock the chunk's entries FOR KEY SHARE
    until commit, so a concurrent deletion waits and its trigger then removes these rows;
    rows of an entry deleted since it was read are removed here."""
    lock = " FOR KEY SHARE" if _postgres(session) else ""
    params: dict[str, object] = {"ids": ids}
    if ids is not None and lock:
        q = text(f"{HOLD_MARK} SELECT d.id FROM unnest(CAST(:ids AS bigint[])) u(id)"
                 " JOIN data_entries d ON d.id = u.id FOR KEY SHARE OF d")
    elif ids is not None:
        q = text(f"{HOLD_MARK} SELECT id FROM data_entries WHERE id IN :ids"
                 ).bindparams(bindparam("ids", expanding=True))
    else:
        q = text(f"{HOLD_MARK} SELECT id FROM data_entries WHERE data_entry_type_id = :d"
                 f" AND year = :y AND id BETWEEN :lo AND :hi{lock}")
        params = {"d": det, "y": year, "lo": lo, "hi": hi}
    gone = set(crm_of) - {i for (i,) in session.execute(q, params)}
    if gone:
        session.execute(text("DELETE FROM data_entry_emissions WHERE data_entry_id IN :g")
                        .bindparams(bindparam("g", expanding=True)), {"g": sorted(gone)})
        for i in gone:
            crm_of.pop(i)


def write_rows(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Bulk insert emission rows: binary COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if bulk.is_postgres(session):
        bulk.copy_from(session, "COPY data_entry_emissions (data_entry_id, emission_type_id,"
                                " scope, kg_co2eq, additional_value, primary_factor_id)"
                                " FROM STDIN WITH (FORMAT binary)",
                       io.BytesIO(bulk.emission_rows_binary(rows)))
        return
    session.execute(text(
        "INSERT INTO data_entry_emissions (data_entry_id, emission_type_id, scope, kg_co2eq,"
        " additional_value, primary_factor_id, computed_at) VALUES (:a, :b, :c, :d, :e, :f,"
        " CURRENT_TIMESTAMP)"),
        [{"a": r[0], "b": r[1], "c": r[2], "d": r[3], "e": r[4], "f": r[5]} for r in rows])
