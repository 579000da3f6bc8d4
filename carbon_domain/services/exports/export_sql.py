"""The PostgreSQL side of the detailed export: ``COPY (query) TO STDOUT (FORMAT csv)``.

Decoding every entry's JSON and formatting every row in Python costs more than the rest of
the export together; COPY writes the same CSV in C while PostgreSQL reads the rows. The
query only makes cells spreadsheet-safe (``exports.safe_cell``) and turns empty text into
NULL (COPY writes NULL as an empty cell, like ``csv`` writes None; an empty string would be
``""``). ``tests/integration/test_results_out.py`` compares this path with the Python one.

Batches are id ranges of ``size`` entries read once from the slice index (as a
recalculation plans its chunks): a "id > after LIMIT n" query let the planner walk the
primary key past every earlier type (200k rows skipped before a type's first batch).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from functools import cache

from sqlalchemy.orm import Session

from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.csv_rows.schemas import ENTRY_SCHEMAS
from carbon_domain.emission_types import EmissionType
from carbon_domain.json_types import JsonObject

_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")
# Emission type id → path (paths are identifiers: nothing to escape), joined by hash.
_TYPES = "VALUES " + ", ".join(f"({int(m)}, '{m.path}')" for m in EmissionType)
_BOUNDS = ("SELECT id, n FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn,"
           " count(*) OVER () AS n FROM data_entries"
           " WHERE data_entry_type_id = %(det)s AND year = %(year)s) t"
           " WHERE (rn - 1) %% %(n)s = 0 ORDER BY id")
_NO_ROW = ("SELECT d.id, d.data FROM data_entries d WHERE d.data_entry_type_id = %(det)s"
           " AND d.year = %(year)s AND d.id >= %(lo)s AND d.id < %(hi)s AND NOT EXISTS"
           " (SELECT 1 FROM data_entry_emissions e WHERE e.data_entry_id = d.id"
           " AND e.data_entry_type_id = %(det)s AND e.year = %(year)s) ORDER BY d.id")
Reasons = Callable[[list[tuple[int, JsonObject]]], dict[int, tuple[str, str]]]


def _safe(e: str) -> str:
    """exports.safe_cell, and '' → NULL (an empty cell)."""
    # ascii() of the first character (0 for ''): integer tests, no substring allocated.
    return (f"NULLIF(CASE WHEN ascii({e}) IN (61, 43, 45, 64, 9, 13)"
            f" THEN '''' || {e} ELSE {e} END, '')")


def _json_cell(i: int) -> str:
    """The entry's value ``c{i}`` (jsonb) as a cell: a JSON number stays a number."""
    v = f"(c{i} #>> '{{}}')"
    return f"CASE jsonb_typeof(c{i}) WHEN 'number' THEN {v} ELSE {_safe(v)} END AS k{i}"


@cache
def batch_sql(det: int) -> str:
    """One batch as a COPY statement with psycopg2 placeholders (year, lo, hi, reasons).

    Layered so each piece is computed once where it is cheapest (every layer ends in
    OFFSET 0, which keeps the planner from flattening it): the JSON values and the entry's
    cells once per entry, its rows by the data_entry_id index, then the type paths and
    factor classifications joined by hash once per batch (left inside the per-entry loop,
    the 120-row type list was re-hashed for every entry: 100 ms a batch); units too (a
    hash of every unit's cells per batch beats an index lookup and three CASEs per entry)."""
    keys = [c.name for c in ENTRY_SCHEMAS[int(det)].cols] + ["note", OVERRIDE_KEY]
    assert all(_KEY.match(k) or k == OVERRIDE_KEY for k in keys), keys
    n = len(keys)
    extract = "".join(f", data->'{k}' AS c{i}" for i, k in enumerate(keys))
    cells = ", ".join(_json_cell(i) for i in range(n))
    entry = (f"SELECT id, unit_id, {cells} FROM (SELECT id, unit_id{extract}"
             f" FROM data_entries WHERE data_entry_type_id = {int(det)} AND year = %(year)s"
             "  AND id >= %(lo)s AND id < %(hi)s OFFSET 0) e OFFSET 0")
    rows = (f"SELECT d.*, x.id AS xid, x.emission_type_id, x.scope, x.primary_factor_id,"
            f" x.kg_co2eq FROM ({entry}) d"
            " LEFT JOIN LATERAL (SELECT * FROM data_entry_emissions"
            f"  WHERE data_entry_id = d.id AND data_entry_type_id = {int(det)}"
            "  AND year = %(year)s OFFSET 0) x ON true OFFSET 0")
    units = (f"SELECT id, {_safe('institutional_code')} AS u0, {_safe('institutional_id')}"
             f" AS u1, {_safe('name')} AS u2 FROM units")
    return (
        "COPY (SELECT " + ", ".join([
            "u.u0", "u.u1", "u.u2", "z.id", *(f"z.k{i}" for i in range(n)),
            "z.emission_type_id", "t.path", "z.scope", "z.primary_factor_id",
            "f.classification_key", "z.kg_co2eq", _safe("r.kind"), _safe("r.reason")]) +
        f" FROM ({rows}) z"
        f" LEFT JOIN ({units}) u ON u.id = z.unit_id"
        f" LEFT JOIN ({_TYPES}) t(id, path) ON t.id = z.emission_type_id"
        " LEFT JOIN (SELECT id, classification_key FROM factors"
        f"  WHERE data_entry_type_id = {int(det)} AND year = %(year)s) f"
        "  ON f.id = z.primary_factor_id"
        " LEFT JOIN json_to_recordset(%(reasons)s) AS r(id bigint, kind text, reason text)"
        "  ON r.id = z.id AND z.xid IS NULL"
        " ORDER BY z.id, z.xid) TO STDOUT WITH (FORMAT csv)")


def batches(session: Session, det: int, year: int, size: int, reasons: Reasons
            ) -> Iterator[tuple[int, str]]:
    """(entries, CSV text) per batch of ``size`` entries; ``reasons`` says why the
    batch's row-less entries have no row (the engine runs on those only)."""
    sql = batch_sql(int(det))
    raw = session.connection().connection.dbapi_connection
    # The ignores on cursor(): SQLAlchemy types the raw connection as an Optional PEP
    # 249 protocol without __enter__; psycopg2's connection is set and its cursor is one.
    with raw.cursor() as cur:  # type: ignore[union-attr]
        # Many small, similar statements: JIT compilation would cost more than it saves.
        cur.execute("SET LOCAL jit = off")
        # A batch of members is ~24k rows to sort: in memory, not in a temporary file.
        cur.execute("SET LOCAL work_mem = '32MB'")
        cur.execute(_BOUNDS, {"det": int(det), "year": year, "n": size})
        found = cur.fetchall()
    bounds = [r[0] for r in found]
    total = int(found[0][1]) if found else 0
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] if i + 1 < len(bounds) else 2**63 - 1
        params: dict[str, object] = {"det": int(det), "year": year, "lo": lo, "hi": hi}
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(_NO_ROW, params)
            no_row = [(int(e), d) for e, d in cur.fetchall()]
            why = reasons(no_row) if no_row else {}
            params["reasons"] = json.dumps([{"id": e, "kind": k, "reason": r}
                                            for e, (k, r) in why.items()])
            buf = io.StringIO()
            cur.copy_expert(cur.mogrify(sql, params).decode(), buf)
        yield (size if i + 1 < len(bounds) else total - size * i), buf.getvalue()
