"""The reads of an impact preview: a slice's entries and stored emission rows by id range,
the engine's rows for them under the inputs the upload leaves, and what the upload did to
the factors (from its history rows).

The entries of the slices the upload would recalculate are computed by the engine
(``compute_batch``, the recalculation chunks' own function) and compared with their stored
rows (services/preview/preview_meter.py): for a factor file, the entries the recalculation
that follows it would rewrite (its incremental plan, made inside the preview's savepoint:
the others keep their stored rows through it); for other files, and when the plan is a
full run, every entry — after the apply's recalculation every row is what a full run gives.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from carbon_domain import fast_json
from carbon_domain.catalog import MODULE_OF, DataEntryType
from carbon_domain.db import bulk
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.history_models import FactorHistory
from carbon_domain.db.models import Factor, Unit
from carbon_domain.engine import compute_batch
from carbon_domain.reference import ReferenceData
from carbon_domain.services.preview.preview_meter import LISTED_CHANGES, Partial, Row, Side
from carbon_domain.services.recalc.chunk_io import read_chunk

RANGE = 20_000  # entries read and computed per batch


def factor_changes(session: Session, job_id: int) -> dict[str, Any]:
    """What the (not yet rolled back) write did to the factors, from its history rows."""
    rows = session.execute(
        select(FactorHistory.factor_id, FactorHistory.change, FactorHistory.values_before,
               FactorHistory.values_after, Factor.data_entry_type_id, Factor.emission_type_id,
               Factor.classification)
        .join(Factor, Factor.id == FactorHistory.factor_id)
        .where(FactorHistory.job_id == job_id).order_by(FactorHistory.id)).all()
    counts: dict[str, int] = defaultdict(int)
    listed: list[dict[str, Any]] = []
    for fid, change, before, after, det, et, classification in rows:
        counts[change] += 1
        if len(listed) < LISTED_CHANGES:
            listed.append({"factor_id": fid, "change": change, "data_entry_type_id": det,
                           "emission_type_id": et, "classification": classification,
                           "values_before": before, "values_after": after})
    return {"inserted": counts["inserted"], "updated": counts["updated"],
            "retired": counts["retired"], "revived": counts["revived"], "changes": listed}


def slice_ranges(session: Session, det: int, year: int, size: int = RANGE
                 ) -> list[tuple[int, int, int]]:
    """The slice's entries as id ranges of at most ``size`` entries: (lo, hi, entries)."""
    ids = [int(i) for (i,) in session.execute(text(
        "SELECT id FROM data_entries WHERE data_entry_type_id = :d AND year = :y ORDER BY id"),
        {"d": det, "y": year})]
    return [(ids[i], ids[min(i + size, len(ids)) - 1], min(size, len(ids) - i))
            for i in range(0, len(ids), size)]


def _entries(session: Session, det: int, year: int, lo: int, hi: int
             ) -> tuple[list[tuple[int, dict[str, Any]]], dict[int, int]]:
    """The range's entries (id, data) and each one's unit."""
    if dialect_of(session).raw_reads:
        rows = bulk.fetch_raw(session, (
            "SELECT id, unit_id, data::text FROM data_entries WHERE data_entry_type_id = %s"
            " AND year = %s AND id BETWEEN %s AND %s ORDER BY id"), (det, year, lo, hi))
        loads = fast_json.loads
        return [(i, loads(d)) for i, _u, d in rows], {i: int(u) for i, u, _d in rows}
    out, units = [], {}
    for i, u, d in session.execute(text(
            "SELECT id, unit_id, data FROM data_entries WHERE data_entry_type_id = :d"
            " AND year = :y AND id BETWEEN :lo AND :hi ORDER BY id"),
            {"d": det, "y": year, "lo": lo, "hi": hi}):
        out.append((int(i), json.loads(d) if isinstance(d, str) else d))
        units[int(i)] = int(u)
    return out, units


def _stored(session: Session, det: int, year: int, lo: int, hi: int,
            ids: list[int] | None = None) -> dict[int, list[Row]]:
    """The range's stored emission rows by entry: (emission type, kg, primary factor)."""
    sql = ("SELECT r.data_entry_id, r.emission_type_id, r.kg_co2eq, r.primary_factor_id"
           " FROM data_entry_emissions r JOIN data_entries e ON e.id = r.data_entry_id"
           " WHERE e.data_entry_type_id = {d} AND e.year = {y} AND e.id BETWEEN {lo} AND {hi}"
           " AND r.data_entry_id BETWEEN {lo} AND {hi} AND r.data_entry_type_id = {d}"
           " AND r.year = {y}")
    out: dict[int, list[Row]] = defaultdict(list)
    rows: Iterable[Any]
    if dialect_of(session).raw_reads:
        params: tuple[Any, ...] = (det, year, lo, hi, lo, hi, det, year)
        if ids is not None:
            sql += " AND e.id = ANY({ids}::bigint[])"
            params += (ids,)
        rows = bulk.fetch_raw(session, sql.format(d="%s", y="%s", lo="%s", hi="%s", ids="%s"),
                              params)
    else:
        rows = session.execute(text(sql.format(d=":d", y=":y", lo=":lo", hi=":hi")),
                               {"d": det, "y": year, "lo": lo, "hi": hi})
    wanted = None if ids is None else set(ids)
    for eid, et, kg, fid in rows:
        if wanted is None or int(eid) in wanted:
            out[int(eid)].append((int(et), float(kg), fid))
    return out


def _units(session: Session, det: int, year: int, lo: int, hi: int,
           ids: list[int] | None = None) -> dict[int, int]:
    sql = ("SELECT id, unit_id FROM data_entries WHERE data_entry_type_id = {d} AND year = {y}"
           " AND id BETWEEN {lo} AND {hi}")
    if dialect_of(session).raw_reads:
        params: tuple[Any, ...] = (det, year, lo, hi)
        if ids is not None:
            sql += " AND id = ANY({ids}::bigint[])"
            params += (ids,)
        rows: Iterable[Any] = bulk.fetch_raw(session, sql.format(
            d="%s", y="%s", lo="%s", hi="%s", ids="%s"), params)
    else:
        rows = session.execute(text(sql.format(d=":d", y=":y", lo=":lo", hi=":hi")),
                               {"d": det, "y": year, "lo": lo, "hi": hi})
    wanted = None if ids is None else set(ids)
    return {int(i): int(u) for i, u in rows if wanted is None or int(i) in wanted}


def _computed(det: int, entries: list[tuple[int, dict[str, Any]]], index: Any,
              refs: ReferenceData) -> tuple[dict[int, list[Row]], set[int]]:
    result = compute_batch(det, entries, index, refs)
    rows: dict[int, list[Row]] = defaultdict(list)
    for r in result.rows:
        rows[int(r[0])].append((int(r[1]), float(r[3]), r[5]))
    return rows, set(result.missing)


def measure_range(session: Session, acc: Partial, det: int, year: int, lo: int, hi: int,
                  index: Any, refs: ReferenceData, only: list[int] | None = None) -> None:
    """Stored rows (before) against the rows after the upload, for one id range of a slice
    whose entries the upload leaves as they are (a factor or reference upload): the
    engine's under ``index`` and ``refs`` for every entry, or for the entries ``only``
    names (the recalculation's plan) while the others keep their stored rows."""
    module = MODULE_OF[DataEntryType(det)].value
    if only is None:
        stored = _stored(session, det, year, lo, hi)
        entries, units = _entries(session, det, year, lo, hi)
        after, missing = _computed(det, entries, index, refs)
        acc.compare(det, module, (units, stored), (units, after), missing)
        return
    picked = sorted(i for i in only if lo <= i <= hi)
    if picked:
        entries, _crm = read_chunk(session, det, year, lo, hi, picked)
        units = _units(session, det, year, lo, hi, picked)
        stored = _stored(session, det, year, lo, hi, picked)
        computed, missing = _computed(det, entries, index, refs)
        acc.compare(det, module, (units, stored), (units, computed), missing)
    _unchanged(session, acc, det, module, year, lo, hi, picked)


def _unchanged(session: Session, acc: Partial, det: int, module: int, year: int, lo: int,
               hi: int, picked: list[int]) -> None:
    """Entries the recalculation leaves alone: their stored rows are both before and after,
    summed per (unit, emission type) as arrays (PostgreSQL), never entry by entry."""
    if not dialect_of(session).raw_reads:
        units = {i: u for i, u in _units(session, det, year, lo, hi).items()
                 if i not in set(picked)}
        stored = {i: r for i, r in _stored(session, det, year, lo, hi).items() if i in units}
        acc.compare(det, module, (units, stored), (units, stored), set())
        return
    params = (det, year, lo, hi, picked)
    for unit, et, kgs in bulk.fetch_raw(session, (
            "SELECT e.unit_id, r.emission_type_id, array_agg(r.kg_co2eq) FROM"
            " data_entry_emissions r JOIN data_entries e ON e.id = r.data_entry_id"
            " WHERE e.data_entry_type_id = %s AND e.year = %s AND e.id BETWEEN %s AND %s"
            " AND NOT (e.id = ANY(%s::bigint[])) AND r.data_entry_type_id = %s"
            " AND r.year = %s GROUP BY 1, 2"), (*params, det, year)):
        acc.add_unchanged(det, (int(unit), module, int(et)), [float(k) for k in kgs])
    for unit, n in bulk.fetch_raw(session, (
            "SELECT unit_id, count(*) FROM data_entries WHERE data_entry_type_id = %s"
            " AND year = %s AND id BETWEEN %s AND %s AND NOT (id = ANY(%s::bigint[]))"
            " GROUP BY 1"), params):
        acc.count_unchanged(det, int(unit), int(n))


def slice_side(session: Session, det: int, year: int, index: Any = None,
               refs: ReferenceData | None = None) -> tuple[Side, set[int]]:
    """A whole slice's entries with their stored rows (``index`` None) or the engine's
    under ``index`` and ``refs``, and the entries it found no factor for."""
    units: dict[int, int] = {}
    rows: dict[int, list[Row]] = {}
    missing: set[int] = set()
    for lo, hi, _n in slice_ranges(session, det, year):
        entries, part = _entries(session, det, year, lo, hi)
        units.update(part)
        if index is None:
            rows.update(_stored(session, det, year, lo, hi))
        else:
            assert refs is not None
            computed, miss = _computed(det, entries, index, refs)
            rows.update(computed)
            missing |= miss
    return (units, rows), missing


def unit_names(session: Session, ids: Iterable[int]) -> dict[int, str | None]:
    return {i: code for i, code in session.execute(select(
        Unit.id, Unit.institutional_code).where(Unit.id.in_(sorted(set(ids)))))}
