"""The PostgreSQL side of the detailed export: each CSV line is built by the database.

Decoding every entry's JSON and formatting every row in Python costs more than the rest of
the export together; PostgreSQL builds the same text while it reads the rows, so Python only
joins strings. The quoting and spreadsheet-safety rules are those of ``csv`` (minimal
quoting) and ``exports.safe_cell``; ``tests/integration/test_exports.py`` compares this
path with the Python one, cell by cell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.csv_rows.schemas import ENTRY_SCHEMAS
from carbon_domain.emission_types import EmissionType

_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")
_PATHS = json.dumps({str(int(m)): m.path for m in EmissionType})


def _quoted(e: str) -> str:
    """csv.QUOTE_MINIMAL: quote a field holding a comma, a quote, CR or LF."""
    return (f"CASE WHEN {e} ~ '[\",\\r\\n]' THEN '\"' || replace({e}, '\"', '\"\"') || '\"'"
            f" ELSE {e} END")


def _safe(e: str) -> str:
    """exports.safe_cell: a leading ' before =, +, -, @, tab or CR."""
    return f"CASE WHEN left({e}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || {e} ELSE {e} END"


def _text(e: str) -> str:
    return f"coalesce({_quoted(_safe(e))}, '')"


def _json_cell(key: str) -> str:
    """A JSON number stays a number; anything else is text (made safe and quoted)."""
    assert _KEY.match(key) or key == OVERRIDE_KEY, key
    v = f"(d.data->>'{key}')"
    return f"CASE jsonb_typeof(d.data->'{key}') WHEN 'number' THEN {v} ELSE {_text(v)} END"


@cache
def batch_sql(det: int, eol: str) -> str:
    keys = [c.name for c in ENTRY_SCHEMAS[int(det)].cols] + ["note", OVERRIDE_KEY]
    prefix = " || ',' || ".join([
        _text("u.institutional_code"), _text("u.institutional_id"), _text("u.name"),
        "d.id::text", *(_json_cell(k) for k in keys)])
    tail = " || ',' || ".join([
        "e.emission_type_id::text", "(CAST(%(paths)s AS jsonb) ->> e.emission_type_id::text)",
        "e.scope::text", "coalesce(e.primary_factor_id::text, '')",
        f"coalesce({_quoted('f.classification_key')}, '')", "e.kg_co2eq::text", "''", "''"])
    eol_sql = "E'" + eol.replace("\r", "\\r").replace("\n", "\\n") + "'"
    return (
        f"SELECT d.id, CASE WHEN x.tail IS NULL THEN d.prefix"
        f" ELSE d.prefix || ',' || x.tail || {eol_sql} END, x.tail IS NOT NULL"
        f" FROM (SELECT d.id, {prefix} AS prefix FROM data_entries d"
        "  LEFT JOIN units u ON u.id = d.unit_id"
        "  WHERE d.data_entry_type_id = %(det)s AND d.year = %(year)s AND d.id > %(after)s"
        "  ORDER BY d.id LIMIT %(n)s) d"
        f" LEFT JOIN LATERAL (SELECT e.id, {tail} AS tail FROM data_entry_emissions e"
        "  LEFT JOIN factors f ON f.id = e.primary_factor_id"
        "  WHERE e.data_entry_id = d.id) x ON true"
        " ORDER BY d.id, x.id")


def batches(session: Session, det: int, year: int, size: int, eol: str
            ) -> Iterator[tuple[int, list[Any], list[tuple[int, dict[str, Any]]]]]:
    """Keyset batches of ``size`` entries: (entries, parts, entries without a row)."""
    sql = batch_sql(int(det), eol)
    raw = session.connection().connection.dbapi_connection
    after = 0
    while True:
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(sql, {"det": int(det), "year": year, "after": after, "n": size,
                              "paths": _PATHS})
            fetched = cur.fetchall()
        if not fetched:
            return
        parts: list[Any] = []
        missing: list[int] = []
        last = after
        entries = 0
        for eid, line, has_row in fetched:
            if eid != last:
                entries += 1
                last = eid
            if has_row:
                parts.append(line)
            else:
                parts.append((eid, line))
                missing.append(eid)
        after = last
        no_row: list[tuple[int, dict[str, Any]]] = []
        if missing:
            with raw.cursor() as cur:  # type: ignore[union-attr]
                cur.execute("SELECT id, data FROM data_entries WHERE id = ANY(%(ids)s)"
                            " ORDER BY id", {"ids": missing})
                no_row = [(i, d) for i, d in cur.fetchall()]
        yield entries, parts, no_row
