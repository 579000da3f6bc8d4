"""The PostgreSQL side of the detailed export: each CSV line is built by the database.

Decoding every entry's JSON and formatting every row in Python costs more than the rest of
the export together; PostgreSQL builds the same text while it reads the rows, so Python only
joins strings. The quoting and spreadsheet-safety rules are those of ``csv`` (minimal
quoting) and ``exports.safe_cell``; ``tests/integration/test_exports.py`` compares this
path with the Python one, cell by cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.csv_rows.schemas import ENTRY_SCHEMAS
from carbon_domain.emission_types import EmissionType

_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")


def _quoted(e: str) -> str:
    """csv.QUOTE_MINIMAL: quote a field holding a comma, a quote, CR or LF."""
    return (f"CASE WHEN {e} ~ '[\",\\r\\n]' THEN '\"' || replace({e}, '\"', '\"\"') || '\"'"
            f" ELSE {e} END")


def _safe(e: str) -> str:
    """exports.safe_cell: a leading ' before =, +, -, @, tab or CR."""
    return f"CASE WHEN left({e}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || {e} ELSE {e} END"


def _text(e: str) -> str:
    return f"coalesce({_quoted(_safe(e))}, '')"


def _json_cell(i: int) -> str:
    """Column ``c{i}`` (the entry's value as jsonb): a JSON number stays a number; anything
    else is text, made safe and quoted."""
    v = f"(d.c{i} #>> '{{}}')"
    return f"CASE jsonb_typeof(d.c{i}) WHEN 'number' THEN {v} ELSE {_text(v)} END"


# Emission type id → "id,path" (paths are identifiers: nothing to quote), joined by hash.
_TYPES = "VALUES " + ", ".join(f"({int(m)}, '{int(m)},{m.path}')" for m in EmissionType)


@cache
def batch_sql(det: int, eol: str) -> str:
    """One batch of lines. Each piece of text is built once where it is cheapest: the entry
    part once per entry, the factor's quoted classification once per factor, the type's
    "id,path" once per type; per row only scope, factor id and kg are formatted."""
    keys = [c.name for c in ENTRY_SCHEMAS[int(det)].cols] + ["note", OVERRIDE_KEY]
    prefix = " || ',' || ".join([
        _text("u.institutional_code"), _text("u.institutional_id"), _text("u.name"),
        "d.id::text", *(_json_cell(i) for i in range(len(keys)))])
    # Each key is extracted from the entry's JSON once (the cells read it up to 6 times).
    assert all(_KEY.match(k) or k == OVERRIDE_KEY for k in keys), keys
    extract = "".join(f", data->'{k}' AS c{i}" for i, k in enumerate(keys))
    tail = " || ',' || ".join([
        "t.txt", "x.scope::text", "coalesce(x.primary_factor_id::text, '')",
        "coalesce(f.cls, '')", "x.kg_co2eq::text", "''", "''"])
    eol_sql = "E'" + eol.replace("\r", "\\r").replace("\n", "\\n") + "'"
    return (
        f"SELECT d.id, CASE WHEN x.id IS NULL THEN d.prefix"
        f" ELSE d.prefix || ',' || {tail} || {eol_sql} END, x.id IS NOT NULL"
        # The batch's entries first, then the joins: a plan that joins the whole slice
        # first (seen on a never-analysed table) would be O(slice) a batch.
        # OFFSET 0 keeps each subquery from being flattened, so the entry part is built
        # once per entry (not once per row: 3× slower for members) and units are looked up
        # by primary key.
        f" FROM (SELECT d.id, {prefix} AS prefix FROM (SELECT id, unit_id{extract}"
        "  FROM data_entries WHERE data_entry_type_id = %(det)s AND year = %(year)s"
        # An id range, not "id > after LIMIT n": with a LIMIT the planner may walk the primary
        # key filtering out every earlier type (seen: 200k rows skipped per first batch).
        "  AND id >= %(lo)s AND id < %(hi)s ORDER BY id) d"
        "  LEFT JOIN LATERAL (SELECT * FROM units WHERE id = d.unit_id OFFSET 0) u ON true"
        "  OFFSET 0) d"
        " LEFT JOIN LATERAL (SELECT e.id, e.emission_type_id, e.scope, e.primary_factor_id,"
        "  e.kg_co2eq FROM data_entry_emissions e WHERE e.data_entry_id = d.id OFFSET 0) x"
        "  ON true"
        f" LEFT JOIN ({_TYPES}) t(id, txt) ON t.id = x.emission_type_id"
        f" LEFT JOIN (SELECT id, {_quoted('classification_key')} AS cls FROM factors"
        "  WHERE data_entry_type_id = %(det)s AND year = %(year)s OFFSET 0) f"
        "  ON f.id = x.primary_factor_id"
        " ORDER BY d.id, x.id")


_BOUNDS = ("SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM data_entries"
           " WHERE data_entry_type_id = %(det)s AND year = %(year)s) t"
           " WHERE (rn - 1) %% %(n)s = 0 ORDER BY id")


def batches(session: Session, det: int, year: int, size: int, eol: str
            ) -> Iterator[tuple[int, list[Any], list[tuple[int, dict[str, Any]]]]]:
    """Batches of ``size`` entries (id ranges read once from the slice index, as a
    recalculation plans its chunks): (entries, parts, entries without a row)."""
    sql = batch_sql(int(det), eol)
    raw = session.connection().connection.dbapi_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        # Many small, similar queries: JIT compilation would cost more than it saves.
        cur.execute("SET LOCAL jit = off")
        cur.execute(_BOUNDS, {"det": int(det), "year": year, "n": size})
        bounds = [r[0] for r in cur.fetchall()]
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] if i + 1 < len(bounds) else 2**63 - 1
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(sql, {"det": int(det), "year": year, "lo": lo, "hi": hi})
            fetched = cur.fetchall()
        parts: list[Any] = []
        missing: list[int] = []
        last = None
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
        no_row: list[tuple[int, dict[str, Any]]] = []
        if missing:
            with raw.cursor() as cur:  # type: ignore[union-attr]
                cur.execute("SELECT id, data FROM data_entries WHERE id = ANY(%(ids)s)"
                            " ORDER BY id", {"ids": missing})
                no_row = [(i, d) for i, d in cur.fetchall()]
        yield entries, parts, no_row
