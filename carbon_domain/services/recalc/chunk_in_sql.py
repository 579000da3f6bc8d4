"""A full recalculation's chunk of an equipment or purchase type, computed by PostgreSQL
(the formulas: ``carbon_domain/engine_sql.py``), the rest of its entries by the engine:

    lock the chunk's entries (FOR KEY SHARE) ─► their distinct match keys ─► a plan per key
    (Python) ─► one INSERT … SELECT of the ordinary entries' rows into the stage ─► the other
    entries read and computed in Python, as every chunk's are ─► COPY of their rows

The entries are locked first, so the statement reads exactly the entries the chunk holds
(the lock is what the rows' foreign key used to guarantee: chunk_io.hold_entries). Only a
stage is written this way (a full recalculation on PostgreSQL): an incremental chunk needs
the old rows back and keeps the Python path. ``CARBON_CHUNK_SQL=0`` turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from carbon_domain.db import bulk
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.dialect.postgres import HOLD_MARK
from carbon_domain.engine import BatchResult, compute_batch
from carbon_domain.engine_sql import LINK, ORDINARY, SQL_FORMULAS, Key, Plan, SqlFormula
from carbon_domain.services.inputs.slices import SliceContext
from carbon_domain.services.recalc.chunk_io import read_chunk, write_rows
from carbon_domain.settings import get_settings


@dataclass(slots=True)
class SqlChunk:
    """The chunk's result: the engine's for the entries left to Python (its rows already
    written), ``in_sql`` entries and rows written by the statement, and every held entry's
    report module."""

    result: BatchResult
    in_sql: int
    crm_of: dict[int, int]

    @property
    def rows(self) -> int:
        return len(self.result.rows) + self.in_sql


def applies(session: Session, det: int, stage: str | None) -> bool:
    return (stage is not None and det in SQL_FORMULAS and get_settings().chunk_sql
            and dialect_of(session).name == "postgresql")


def rewrite(session: Session, det: int, year: int, lo: int, hi: int, stage: str,
            ctx: SliceContext) -> SqlChunk:
    """Write the chunk's rows into ``stage``; see the module docstring."""
    f = SQL_FORMULAS[det]
    crm_of = _hold(session, det, year, lo, hi)
    plans = _plans(session, f, det, year, lo, hi, ctx)
    done: list[int] = []
    relinked: dict[int, int | None] = {}
    if plans:
        done, relinked = _insert(session, f, year, lo, hi, stage, plans)
    gone = set(done) - crm_of.keys()
    if gone:  # cannot happen while the entries are locked; never leave a row of no entry
        dialect_of(session).delete_emissions_of(session, det, year, sorted(gone), into=stage)
        done = [i for i in done if i not in gone]
    rest = sorted(crm_of.keys() - set(done))
    result = compute_batch(det, [], ctx.index, ctx.refs)
    if rest:
        entries, _ = read_chunk(session, det, year, lo, hi, rest)
        result = compute_batch(det, entries, ctx.index, ctx.refs)
        write_rows(session, det, year, result.rows, into=stage)
    result.entries += len(done)
    for entry_id, fid in relinked.items():
        result.relinked[entry_id] = fid
    return SqlChunk(result, len(done), crm_of)


def _hold(session: Session, det: int, year: int, lo: int, hi: int) -> dict[int, int]:
    """The chunk's entries, locked FOR KEY SHARE until commit, and their report modules."""
    row = bulk.fetch_raw(session, (
        f"{HOLD_MARK} SELECT array_agg(id), array_agg(carbon_report_module_id) FROM (SELECT id,"
        " carbon_report_module_id FROM data_entries WHERE data_entry_type_id = %s AND year = %s"
        " AND id BETWEEN %s AND %s FOR KEY SHARE) t"), (det, year, lo, hi))[0]
    return dict(zip(row[0] or (), row[1] or (), strict=True))


def _plans(session: Session, f: SqlFormula, det: int, year: int, lo: int, hi: int,
           ctx: SliceContext) -> dict[Key, tuple[int, tuple[float, ...]]]:
    """A plan per distinct key of the chunk. Unfiltered (a key part that is a number reads
    as its text here, and gets a plan no entry it came from uses: the statement takes only
    string parts): the conditions cost more than the few extra plans (~25 of 77 ms per
    25,000 entries)."""
    keys = bulk.fetch_raw(session, (
        f"SELECT DISTINCT {', '.join(f.keys)} FROM data_entries d WHERE"
        " d.data_entry_type_id = %s AND d.year = %s AND d.id BETWEEN %s AND %s"),
        (det, year, lo, hi))
    out: dict[Key, tuple[int, tuple[float, ...]]] = {}
    for key in keys:
        plan: Plan = f.plan(ctx.index, ctx.refs, tuple(key))
        if plan is not None:
            out[tuple(key)] = plan
    return out


def _insert(session: Session, f: SqlFormula, year: int, lo: int, hi: int, stage: str,
            plans: dict[Key, tuple[int, tuple[float, ...]]]
            ) -> tuple[list[int], dict[int, int | None]]:
    """The statement: the plans as arrays joined to the entries on their keys (a NULL key
    part is matched by a flag and '' so the join hashes), the rows inserted into the stage.
    Returns the entries it wrote rows for, and those whose stored link changes."""
    nkeys = len(f.keys)
    cols: list[list[Any]] = [[] for _ in range(2 * nkeys + 1 + len(f.params))]
    for key, (fid, numbers) in plans.items():
        values: list[Any] = []
        for part in key:
            values += [part is None, part or ""]
        values.append(fid)
        values += numbers
        for col, v in zip(cols, values, strict=True):
            col.append(v)
    names = [n for i in range(nkeys) for n in (f"k{i}n", f"k{i}")]
    types = ["boolean", "text"] * nkeys
    names += ["fid", *f.params]
    types += ["integer"] + ["float8"] * len(f.params)
    unnest = ", ".join(f"%s::{t}[]" for t in types)
    e_cols = ", ".join([f"{sql} AS k{i}" for i, sql in enumerate(f.keys)]
                       + [f"{sql} AS {name}" for name, sql in f.numbers.items()])
    join = " AND ".join(f"p.k{i}n = (e.k{i} IS NULL) AND p.k{i} = coalesce(e.k{i}, '')"
                        for i in range(nkeys))
    sql = (
        f"WITH p AS (SELECT * FROM unnest({unnest}) AS p({', '.join(names)})),"
        f" e AS MATERIALIZED (SELECT d.id, {LINK} AS link, {e_cols} FROM data_entries d"
        "  WHERE d.data_entry_type_id = %s AND d.year = %s AND d.id BETWEEN %s AND %s"
        f"  AND {ORDINARY} AND {f.guard}),"
        f" ok AS (SELECT e.id, p.fid, {f.kg} AS kg, e.link IS DISTINCT FROM p.fid AS relink"
        f"  FROM e JOIN p ON {join} WHERE {f.usable}),"
        f" ins AS (INSERT INTO {stage} (data_entry_id, data_entry_type_id, year,"
        "  emission_type_id, scope, kg_co2eq, additional_value, primary_factor_id)"
        "  SELECT id, %s, %s, %s, %s, kg, NULL, fid FROM ok)"
        " SELECT (SELECT array_agg(id) FROM ok), (SELECT array_agg(id) FROM ok WHERE relink),"
        " (SELECT array_agg(fid) FROM ok WHERE relink)")
    params = (*cols, f.det, year, lo, hi, f.det, year, f.emission_type, f.scope)
    # A hash join, whatever the estimates: the planner expects ~1 entry through these JSON
    # conditions and, with a nested loop, evaluated the key extractions for every pair of
    # entry and plan (25,000 entries × 57 plans: 0.63 s; hashed: ~0.07 s). Transaction-local,
    # and put back right after.
    was = bulk.fetch_raw(session, "SELECT set_config('enable_nestloop', 'off', true),"
                                  " current_setting('enable_nestloop')", ())[0][1]
    try:
        done, relink_ids, relink_fids = bulk.fetch_raw(session, sql, params)[0]
    finally:
        bulk.fetch_raw(session, "SELECT set_config('enable_nestloop', %s, true)", (was,))
    return list(done or ()), dict(zip(relink_ids or (), relink_fids or (), strict=True))
