"""The figures of an impact preview: what a factor file would do, measured inside the
caller's transaction after the real ``write_factor_set`` ran (services/preview/previews.py rolls it
back afterwards).

Every entry of the types the upload would recalculate is computed by the engine
(``compute_batch``, the recalculation chunks' own function) against the factors as the file
leaves them, and compared with its stored emission rows. Computing the whole slice, not only
the entries incremental planning would pick, is what makes the after-figures exact: after
the apply's recalculation every row of those types is what a full run gives (incremental
recalculation is exact to a full run), whatever was stale before. Sums are ``math.fsum``
(correctly rounded, so independent of the order rows are added in).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NotRequired, TypedDict

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_OF, DataEntryType
from carbon_domain.db.history_models import FactorHistory
from carbon_domain.db.models import Factor, Unit
from carbon_domain.engine import compute_batch
from carbon_domain.json_types import JsonObject
from carbon_domain.services.inputs.factors import load_factor_records
from carbon_domain.services.inputs.slices import build_index, load_reference_data
from carbon_domain.services.recalc.chunk_io import read_chunk

TOP = 20                # the largest absolute changes listed
LISTED_CHANGES = 500    # factor changes listed (all are counted)
LISTED_LOSING = 100     # entries losing their factor listed (all are counted)
_RANGE = 20_000         # entry ids read and computed per batch

Key = tuple[int, int, int]  # unit id, module, emission type
_Rows = dict[int, list[tuple[int, float, int | None]]]  # entry → (emission type, kg, factor)


class Delta(TypedDict):
    before: float  # kg CO2-eq
    after: float
    delta: float


class ModuleDelta(Delta):
    module_type_id: int


class UnitDelta(Delta):
    unit_id: int
    unit: str | None  # its institutional code


class EmissionTypeDelta(Delta):
    emission_type_id: int


class CellDelta(Delta):
    unit_id: int
    unit: str | None
    module_type_id: int
    emission_type_id: int


class TypeCounts(TypedDict):
    data_entry_type_id: int
    name: str
    entries: int
    affected: int  # entries whose rows change
    losing_factor: int  # entries that had rows and would find no factor


class EntryChange(TypedDict):
    data_entry_id: int
    data_entry_type_id: int
    unit_id: int
    before: float
    after: float
    delta: float
    factor_before: int | None
    factor_after: int | None
    unit: NotRequired[str | None]  # set by ``_assemble``


class FactorChangeRow(TypedDict):
    factor_id: int
    change: str
    data_entry_type_id: int
    emission_type_id: int
    classification: JsonObject
    values_before: JsonObject | None
    values_after: JsonObject | None


class FactorChanges(TypedDict):
    inserted: int
    updated: int
    retired: int
    revived: int
    changes: list[FactorChangeRow]  # the first LISTED_CHANGES


class Figures(TypedDict):
    factors: dict[str, object]  # empty here; the preview puts FactorChanges in
    entries: list[TypeCounts]
    total: Delta
    by_module: list[ModuleDelta]
    by_unit: list[UnitDelta]
    by_emission_type: list[EmissionTypeDelta]
    by_unit_module_type: list[CellDelta]
    top_changes: list[EntryChange]
    losing_factor: list[EntryChange]
    losing_factor_count: int


def factor_changes(session: Session, job_id: int) -> FactorChanges:
    """What the (not yet rolled back) write did to the factors, from its history rows."""
    rows = session.execute(
        select(FactorHistory.factor_id, FactorHistory.change, FactorHistory.values_before,
               FactorHistory.values_after, Factor.data_entry_type_id, Factor.emission_type_id,
               Factor.classification)
        .join(Factor, Factor.id == FactorHistory.factor_id)
        .where(FactorHistory.job_id == job_id).order_by(FactorHistory.id)).all()
    counts: dict[str, int] = defaultdict(int)
    listed: list[FactorChangeRow] = []
    for fid, change, before, after, det, et, classification in rows:
        counts[change] += 1
        if len(listed) < LISTED_CHANGES:
            listed.append({"factor_id": fid, "change": change, "data_entry_type_id": det,
                           "emission_type_id": et, "classification": classification,
                           "values_before": before, "values_after": after})
    return {"inserted": counts["inserted"], "updated": counts["updated"],
            "retired": counts["retired"], "revived": counts["revived"], "changes": listed}


def _stored_rows(session: Session, det: int, year: int) -> _Rows:
    out: _Rows = defaultdict(list)
    for eid, et, kg, fid in session.execute(text(
            "SELECT r.data_entry_id, r.emission_type_id, r.kg_co2eq, r.primary_factor_id"
            " FROM data_entry_emissions r JOIN data_entries e ON e.id = r.data_entry_id"
            " WHERE e.data_entry_type_id = :d AND e.year = :y"), {"d": det, "y": year}):
        out[int(eid)].append((int(et), float(kg), fid))
    return out


def _units_of(session: Session, det: int, year: int) -> dict[int, int]:
    return {int(i): int(u) for i, u in session.execute(text(
        "SELECT id, unit_id FROM data_entries WHERE data_entry_type_id = :d AND year = :y"),
        {"d": det, "y": year})}


def _computed_rows(session: Session, det: int, year: int, ids: list[int]
                   ) -> tuple[_Rows, set[int]]:
    """The engine's rows for every entry of the slice under the current (written) factors,
    and the entries it found no factor for."""
    # Built here, not through the worker's index cache: this factor set is never committed.
    index = build_index(det, year, load_factor_records(session, det, year))
    refs = load_reference_data(session)
    rows: _Rows = defaultdict(list)
    missing: set[int] = set()
    for start in range(0, len(ids), _RANGE):
        part = ids[start:start + _RANGE]
        entries, _crm = read_chunk(session, det, year, part[0], part[-1])
        result = compute_batch(det, entries, index, refs)
        for r in result.rows:
            rows[int(r[0])].append((int(r[1]), float(r[3]), r[5]))
        missing.update(result.missing)
    return rows, missing


def _factor_of(rows: list[tuple[int, float, int | None]]) -> int | None:
    return next((f for _et, _kg, f in rows if f is not None), None)


def _delta(before: Iterable[float], after: Iterable[float]) -> Delta:
    b, a = math.fsum(before), math.fsum(after)
    return {"before": b, "after": a, "delta": a - b}


def measure(session: Session, year: int, dets: list[int]) -> Figures:
    """Before (stored rows) and after (computed now) for every entry of ``dets`` in ``year``."""
    before_kg: dict[Key, list[float]] = defaultdict(list)
    after_kg: dict[Key, list[float]] = defaultdict(list)
    per_type: list[TypeCounts] = []
    changes: list[EntryChange] = []
    losing: list[EntryChange] = []
    for det in dets:
        module = MODULE_OF[DataEntryType(det)].value
        units = _units_of(session, det, year)
        before = _stored_rows(session, det, year)
        after, missing = _computed_rows(session, det, year, sorted(units))
        affected = lost = 0
        for eid, unit in units.items():
            b, a = before.get(eid, []), after.get(eid, [])
            for et, kg, _f in b:
                before_kg[(unit, module, et)].append(kg)
            for et, kg, _f in a:
                after_kg[(unit, module, et)].append(kg)
            if sorted(b, key=repr) == sorted(a, key=repr):
                continue
            affected += 1
            kb, ka = math.fsum(kg for _e, kg, _f in b), math.fsum(kg for _e, kg, _f in a)
            change: EntryChange = {
                "data_entry_id": eid, "data_entry_type_id": det, "unit_id": unit,
                "before": kb, "after": ka, "delta": ka - kb,
                "factor_before": _factor_of(b), "factor_after": _factor_of(a)}
            changes.append(change)
            if b and eid in missing:
                lost += 1
                losing.append(change)
        per_type.append({"data_entry_type_id": det, "name": DataEntryType(det).name,
                         "entries": len(units), "affected": affected, "losing_factor": lost})
    changes.sort(key=lambda c: (-abs(c["delta"]), c["data_entry_id"]))
    losing.sort(key=lambda c: c["data_entry_id"])
    return _assemble(session, before_kg, after_kg, per_type, changes[:TOP], losing)


def _rollup(before_kg: dict[Key, list[float]], after_kg: dict[Key, list[float]],
            pick: Any) -> dict[Any, Delta]:
    b: dict[Any, list[float]] = defaultdict(list)
    a: dict[Any, list[float]] = defaultdict(list)
    for key, kgs in before_kg.items():
        b[pick(key)].extend(kgs)
    for key, kgs in after_kg.items():
        a[pick(key)].extend(kgs)
    return {k: _delta(b.get(k, []), a.get(k, [])) for k in sorted(set(b) | set(a))}


def _assemble(session: Session, before_kg: dict[Key, list[float]],
              after_kg: dict[Key, list[float]], per_type: list[TypeCounts],
              top: list[EntryChange], losing: list[EntryChange]) -> Figures:
    unit_ids = {k[0] for k in (*before_kg, *after_kg)} | {c["unit_id"] for c in top + losing}
    names = {i: code for i, code in session.execute(select(
        Unit.id, Unit.institutional_code).where(Unit.id.in_(sorted(unit_ids))))}
    for c in top + losing:
        c["unit"] = names.get(c["unit_id"])
    by_key = _rollup(before_kg, after_kg, lambda k: k)
    return Figures(
        factors={},
        entries=per_type,
        total=_rollup(before_kg, after_kg, lambda _k: 0).get(
            0, {"before": 0.0, "after": 0.0, "delta": 0.0}),
        by_module=[{"module_type_id": m, **d} for m, d in
                   _rollup(before_kg, after_kg, lambda k: k[1]).items()],
        by_unit=[{"unit_id": u, "unit": names.get(u), **d} for u, d in
                 _rollup(before_kg, after_kg, lambda k: k[0]).items()],
        by_emission_type=[{"emission_type_id": e, **d} for e, d in
                          _rollup(before_kg, after_kg, lambda k: k[2]).items()],
        by_unit_module_type=[{"unit_id": u, "unit": names.get(u), "module_type_id": m,
                              "emission_type_id": e, **d}
                             for (u, m, e), d in by_key.items()],
        top_changes=top, losing_factor=losing[:LISTED_LOSING],
        losing_factor_count=len(losing))
