"""Drill-down to the entries and rows behind a module total, and one entry explained.

Cost is O(page): the page's entry ids come from the (carbon_report_module_id, id) index
(keyset or offset), then one indexed query fetches the rows of those ids only. Why an entry
has no row is not stored anywhere (chunks only count misses), so it is derived at read time
by running the pure engine on the page's row-less entries (``explain.explain_entry``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_EMISSION_ROOTS, DataEntryType, ModuleType
from carbon_domain.db.models import (
    CarbonReport,
    CarbonReportModule,
    DataEntry,
    DataIngestionJob,
    Factor,
    Unit,
    UploadedFile,
)
from carbon_domain.db.models import DataEntryEmission as Emission
from carbon_domain.emission_types import SCOPE_OF, EmissionType
from carbon_domain.explain import Explanation, explain_entry
from carbon_domain.json_types import JsonObject
from carbon_domain.matching import FactorIndex, FactorRecord
from carbon_domain.services.inputs.factor_history import FactorVersion, versions_at
from carbon_domain.services.inputs.slices import load_slice_context
from carbon_domain.services.reads.drilldown_views import (
    EmissionRow,
    EntryExplanation,
    EntryItem,
    EntryPage,
    ExplainedRow,
    FactorUsed,
    ReportRef,
    StoredRow,
    TypeRef,
    UnitModule,
)

MAX_LIMIT = 500


def module_emission_types(module_type_id: int) -> frozenset[int]:
    """Every emission tree node under the module's roots (valid drill-down filters)."""
    return frozenset(int(n) for root in MODULE_EMISSION_ROOTS[ModuleType(module_type_id)]
                     for n in root.subtree())


def stored_types_under(node: int) -> list[int]:
    """The types rows can be stored on within ``node``'s subtree (the node itself included
    when it carries a scope: documented fallbacks store rows on inner nodes)."""
    return sorted(int(n) for n in EmissionType(node).subtree() if SCOPE_OF.get(int(n)))


def _data(v: Any) -> JsonObject:
    return json.loads(v) if isinstance(v, str) else dict(v or {})


def emission_row(et: int, scope: int, kg: float, add: float | None, fid: int | None
                 ) -> EmissionRow:
    return EmissionRow(et, EmissionType(et).path, scope, kg, add, fid)


def retired_index(session: Session, det: int, year: int) -> FactorIndex:
    """The year's retired factors of a type: only used to say "retired factor"."""
    recs = session.execute(select(
        Factor.id, Factor.emission_type_id, Factor.classification, Factor.values).where(
        Factor.data_entry_type_id == det, Factor.year == year, Factor.retired_at.is_not(None)))
    return FactorIndex(det, [FactorRecord(*r) for r in recs], year=year)


def explain_many(session: Session, det: int, year: int,
                 entries: Iterable[tuple[int, JsonObject]]) -> dict[int, Explanation]:
    """The engine's explanation of each entry, with the slice's factors loaded once."""
    ctx = load_slice_context(session, det, year)
    retired = retired_index(session, det, year)
    return {i: explain_entry(det, i, d, ctx.index, ctx.refs, retired) for i, d in entries}


def reasons_for(session: Session, det: int, year: int,
                entries: Sequence[tuple[int, JsonObject]]) -> dict[int, tuple[str, str]]:
    """(reason kind, reason) for entries that have no stored row."""
    out: dict[int, tuple[str, str]] = {}
    for i, ex in explain_many(session, det, year, entries).items():
        if ex.rows:
            out[i] = ("not_recalculated", (f"no stored row, but the current factors give"
                                           f" {len(ex.rows)}: the type needs recalculation"))
        else:
            out[i] = (ex.reason_kind or "no_matching_factor", ex.reason or "no matching factor")
    return out


def module_entries(session: Session, report_id: int, module_type_id: int, *,
                   det: int | None = None, emission_type: int | None = None,
                   missing: bool | None = None, page: int = 1, limit: int = 50,
                   after: int | None = None, count: bool = False) -> EntryPage | None:
    """One page of a report module's entries (ascending id) with their rows, or None when
    the report has no such module. ``emission_type`` keeps entries with a row in that
    subtree (and only those rows); ``missing`` keeps entries without (true) / with (false)
    any row; ``after`` is a keyset cursor (the previous page's last id); ``count`` adds the
    number of matching entries (an O(module) query, so it is opt-in)."""
    found = session.execute(
        select(CarbonReportModule.id, CarbonReport.year)
        .join(CarbonReport, CarbonReport.id == CarbonReportModule.carbon_report_id)
        .where(CarbonReport.id == report_id, CarbonReportModule.module_type_id == module_type_id)
    ).first()
    if found is None:
        return None
    mid, year = found
    types = stored_types_under(emission_type) if emission_type is not None else None
    # BETWEEN, not "=": with an equality the planner drops the module from the sort key and
    # may walk the primary key filtering for the module (88 ms for page 1 of a 37k-entry
    # module, vs 0.09 ms on the (module, id) index it now has to use).
    conds: list[Any] = [DataEntry.carbon_report_module_id.between(mid, mid)]
    if det is not None:
        conds.append(DataEntry.data_entry_type_id == det)
    if types is not None:
        conds.append(exists().where(Emission.data_entry_id == DataEntry.id,
                                    Emission.emission_type_id.in_(types)))
    if missing is not None:
        has_row = exists().where(Emission.data_entry_id == DataEntry.id)
        conds.append(~has_row if missing else has_row)
    if after is not None:
        conds.append(DataEntry.id > after)
    # The page's ids first (the offset is skipped on the index), then their data.
    ids = list(session.scalars(
        select(DataEntry.id).where(*conds)
        .order_by(DataEntry.carbon_report_module_id, DataEntry.id)
        .limit(limit + 1).offset((page - 1) * limit)))
    rows = session.execute(
        select(DataEntry.id, DataEntry.data_entry_type_id, DataEntry.data)
        .where(DataEntry.id.in_(ids)).order_by(DataEntry.id)).all() if ids else []
    has_more = len(rows) > limit
    rows = rows[:limit]
    total = None
    if count:
        unpaged = conds[:-1] if after is not None else conds  # ``after`` is the last one
        total = int(session.scalar(select(func.count()).select_from(DataEntry).where(
            *unpaged)) or 0)
    items = _with_rows(session, year, [(r.id, r.data_entry_type_id, _data(r.data)) for r in rows],
                       types)
    return EntryPage(report_id, module_type_id, page, limit, total, has_more,
                     rows[-1].id if has_more and rows else None, items)


def module_units(session: Session, year: int, module_type_id: int) -> list[UnitModule]:
    """The units whose report of ``year`` has entries in the module, by unit code: the
    report, its entry count (an index-only count per report module) and the module's stored
    total."""
    mids = (select(CarbonReportModule.id)
            .join(CarbonReport, CarbonReport.id == CarbonReportModule.carbon_report_id)
            .where(CarbonReport.year == year,
                   CarbonReportModule.module_type_id == module_type_id))
    counts = (select(DataEntry.carbon_report_module_id.label("mid"),
                     func.count().label("n"))
              .where(DataEntry.carbon_report_module_id.in_(mids))
              .group_by(DataEntry.carbon_report_module_id).subquery())
    rows = session.execute(
        select(CarbonReport.id, Unit.institutional_code, Unit.name, counts.c.n,
               CarbonReportModule.stats)
        .join(CarbonReport, CarbonReport.id == CarbonReportModule.carbon_report_id)
        .join(Unit, Unit.id == CarbonReport.unit_id)
        .join(counts, counts.c.mid == CarbonReportModule.id)
        .where(CarbonReport.year == year, CarbonReportModule.module_type_id == module_type_id)
        .order_by(Unit.institutional_code))
    out = []
    for rid, code, name, n, stats in rows:
        total = _data(stats).get("total")
        out.append(UnitModule(rid, code, name, int(n),
                              float(total) if isinstance(total, int | float) else None))
    return out


def find_report(session: Session, *, report_id: int | None = None,
                unit_code: str | None = None, year: int | None = None) -> ReportRef | None:
    """A report by its id, or by its unit's code and year; None when there is none."""
    q = select(CarbonReport.id, Unit.institutional_code, CarbonReport.year).join(
        Unit, Unit.id == CarbonReport.unit_id)
    if report_id is not None:
        q = q.where(CarbonReport.id == report_id)
    else:
        q = q.where(Unit.institutional_code == unit_code, CarbonReport.year == year)
    found = session.execute(q).first()
    return ReportRef(int(found[0]), str(found[1]), int(found[2])) if found else None


def why_no_report(session: Session, unit_code: str, year: int) -> str:
    """Why ``find_report(unit_code=…, year=…)`` found nothing, in one line that says what
    to give instead: no unit has that code (the API's "unit … not found"; a unit's
    institutional id, the ``unit_institutional_id`` of the data entry files, names its code),
    or the unit has no report for that year (the years it has)."""
    unit = session.execute(select(Unit.id, Unit.institutional_code).where(
        Unit.institutional_code == unit_code)).first()
    if unit is None:
        code = session.scalar(select(Unit.institutional_code).where(
            Unit.institutional_id == unit_code))
        if code is not None:
            return (f"unit {unit_code!r} not found: {unit_code} is the institutional id of "
                    f"{code}; give its code, {code}/{year}")
        return (f"unit {unit_code!r} not found: give a unit's institutional code "
                f"(the units upload's institutional_code column)")
    years = [int(y) for y in session.scalars(select(CarbonReport.year).where(
        CarbonReport.unit_id == unit[0]).order_by(CarbonReport.year))]
    has = (f"its reports are for {', '.join(map(str, years))}" if years
           else "it has no report for any year (upload the units for the year)")
    return f"unit {unit_code!r} has no report for {year}: {has}"


def _with_rows(session: Session, year: int, entries: list[tuple[int, int, JsonObject]],
               types: list[int] | None) -> list[EntryItem]:
    by_entry: dict[int, list[EmissionRow]] = {i: [] for i, _, _ in entries}
    if entries:
        q = select(Emission.data_entry_id, Emission.emission_type_id, Emission.scope,
                   Emission.kg_co2eq, Emission.additional_value, Emission.primary_factor_id
                   ).where(Emission.data_entry_id.in_(list(by_entry)))
        if types is not None:
            q = q.where(Emission.emission_type_id.in_(types))
        for de, et, scope, kg, add, fid in session.execute(q.order_by(Emission.data_entry_id,
                                                                      Emission.id)):
            by_entry[de].append(emission_row(et, scope, kg, add, fid))
    reasons: dict[int, tuple[str, str]] = {}
    without: dict[int, list[tuple[int, JsonObject]]] = {}
    for i, det, data in entries:
        if not by_entry[i]:
            without.setdefault(det, []).append((i, data))
    for det, group in without.items():
        reasons.update(reasons_for(session, det, year, group))
    return [EntryItem(i, det, DataEntryType(det).name, data, by_entry[i],
                      *reasons.get(i, (None, None))) for i, det, data in entries]


def _agrees(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[0] == b[0] and a[1] == b[1] and a[4] == b[4] and math.isclose(
        a[2], b[2], rel_tol=1e-12, abs_tol=1e-12)


def explain_data_entry(session: Session, entry_id: int) -> EntryExplanation | None:
    """An entry recomputed by the pure engine, each row's formula with its inputs, and
    whether the stored rows agree (a row that no longer does is flagged stale)."""
    e = session.execute(
        select(DataEntry.id, DataEntry.data_entry_type_id, DataEntry.year, DataEntry.data,
               DataEntry.carbon_report_module_id, CarbonReportModule.carbon_report_id,
               CarbonReportModule.module_type_id, Unit.institutional_code)
        .join(CarbonReportModule, CarbonReportModule.id == DataEntry.carbon_report_module_id)
        .join(Unit, Unit.id == DataEntry.unit_id, isouter=True)
        .where(DataEntry.id == entry_id)).first()
    if e is None:
        return None
    data = _data(e.data)
    ex = explain_many(session, e.data_entry_type_id, e.year, [(e.id, data)])[e.id]
    found = [r._tuple() for r in session.execute(  # the row, typed by its columns
        select(Emission.emission_type_id, Emission.scope, Emission.kg_co2eq,
               Emission.additional_value, Emission.primary_factor_id, Emission.computed_at)
        .where(Emission.data_entry_id == entry_id).order_by(Emission.id))]
    stored = [r[:5] for r in found]
    computed_with = _versions_of_rows(session, found)
    fresh = [(r.emission_type_id, r.scope, r.kg_co2eq, r.additional_value, r.factor_id)
             for r in ex.rows]
    pending = list(fresh)
    stored_out: list[StoredRow] = []
    for s, used in zip(stored, computed_with, strict=True):
        match = next((f for f in pending if _agrees(s, f)), None)
        if match is not None:
            pending.remove(match)
        stored_out.append(StoredRow(
            s[0], EmissionType(s[0]).path, s[1], s[2], s[3], s[4], match is not None,
            used.version if used else None, used.job_id if used else None))
    fids = sorted({f for *_, f in fresh if f is not None} | {s[4] for s in stored if s[4]})
    return EntryExplanation(
        e.id, e.data_entry_type_id, DataEntryType(e.data_entry_type_id).name, e.year,
        e.carbon_report_id, e.module_type_id, e.institutional_code, data, ex.strategy,
        [TypeRef(t, EmissionType(t).path) for t in ex.resolved_types],
        _factors_used(session, fids),
        [ExplainedRow(r.emission_type_id, EmissionType(r.emission_type_id).path, r.scope or 0,
                      r.kg_co2eq, r.additional_value, r.factor_id, r.formula, r.substituted,
                      dict(r.inputs)) for r in ex.rows],
        ex.reason_kind, ex.reason, stored_out,
        not pending and all(s.agrees for s in stored_out))


def _factors_used(session: Session, fids: list[int]) -> list[FactorUsed]:
    """The factors with their current version (the one the recomputed rows use) and the
    upload that set it: its job, pipeline and file name."""
    if not fids:
        return []
    current = versions_at(session, fids)
    jobs = {v.job_id for v in current.values() if v.job_id is not None}
    uploads = {j: (str(p) if p else None, name) for j, p, name in session.execute(
        select(DataIngestionJob.id, DataIngestionJob.pipeline_id, UploadedFile.filename)
        .join(UploadedFile, UploadedFile.id == DataIngestionJob.upload_id, isouter=True)
        .where(DataIngestionJob.id.in_(sorted(jobs))))} if jobs else {}
    out = []
    for f in session.scalars(select(Factor).where(Factor.id.in_(fids)).order_by(Factor.id)):
        v = current.get(f.id)
        pipeline, filename = uploads.get(v.job_id, (None, None)) if v and v.job_id else (
            None, None)
        out.append(FactorUsed(
            f.id, f.emission_type_id, dict(f.classification or {}), dict(f.values or {}),
            f.retired_at, v.version if v else None, v.change if v else None,
            v.job_id if v else None, v.changed_by if v else None,
            v.changed_at if v else None, pipeline, filename))
    return out


def _versions_of_rows(session: Session, rows: Sequence[tuple[Any, ...]]
                      ) -> list[FactorVersion | None]:
    """For each stored row (…, factor id, computed_at): the version of its factor that was
    in force when the row was computed."""
    by_time: dict[Any, dict[int, FactorVersion]] = {}
    for *_, fid, at in rows:
        if fid is not None and at not in by_time:
            by_time[at] = versions_at(session, [r[4] for r in rows if r[4] is not None], at)
    return [by_time[at].get(fid) if fid is not None else None for *_, fid, at in rows]
