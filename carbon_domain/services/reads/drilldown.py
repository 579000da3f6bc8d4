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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_EMISSION_ROOTS, DataEntryType, ModuleType
from carbon_domain.db.models import CarbonReport, CarbonReportModule, DataEntry, Factor, Unit
from carbon_domain.db.models import DataEntryEmission as Emission
from carbon_domain.emission_types import SCOPE_OF, EmissionType
from carbon_domain.explain import Explanation, explain_entry
from carbon_domain.matching import FactorIndex, FactorRecord
from carbon_domain.services.inputs.factor_history import FactorVersion, versions_at
from carbon_domain.services.inputs.slices import load_slice_context

MAX_LIMIT = 500


@dataclass(frozen=True)
class EntryPage:
    report_id: int
    module_type_id: int
    page: int
    limit: int
    total: int | None  # only when asked (``count``): counting costs O(module), not O(page)
    has_more: bool
    next_after: int | None
    items: list[dict[str, Any]]


def module_emission_types(module_type_id: int) -> frozenset[int]:
    """Every emission tree node under the module's roots (valid drill-down filters)."""
    return frozenset(int(n) for root in MODULE_EMISSION_ROOTS[ModuleType(module_type_id)]
                     for n in root.subtree())


def stored_types_under(node: int) -> list[int]:
    """The types rows can be stored on within ``node``'s subtree (the node itself included
    when it carries a scope: documented fallbacks store rows on inner nodes)."""
    return sorted(int(n) for n in EmissionType(node).subtree() if SCOPE_OF.get(int(n)))


def _data(v: Any) -> dict[str, Any]:
    return json.loads(v) if isinstance(v, str) else dict(v or {})


def row_dict(et: int, scope: int, kg: float, add: float | None, fid: int | None
             ) -> dict[str, Any]:
    return {"emission_type_id": et, "emission_type_path": EmissionType(et).path,
            "scope": scope, "kg_co2eq": kg, "additional_value": add, "factor_id": fid}


def retired_index(session: Session, det: int, year: int) -> FactorIndex:
    """The year's retired factors of a type: only used to say "retired factor"."""
    recs = session.execute(select(
        Factor.id, Factor.emission_type_id, Factor.classification, Factor.values).where(
        Factor.data_entry_type_id == det, Factor.year == year, Factor.retired_at.is_not(None)))
    return FactorIndex(det, [FactorRecord(*r) for r in recs], year=year)


def explain_many(session: Session, det: int, year: int,
                 entries: Iterable[tuple[int, dict[str, Any]]]) -> dict[int, Explanation]:
    """The engine's explanation of each entry, with the slice's factors loaded once."""
    ctx = load_slice_context(session, det, year)
    retired = retired_index(session, det, year)
    return {i: explain_entry(det, i, d, ctx.index, ctx.refs, retired) for i, d in entries}


def reasons_for(session: Session, det: int, year: int,
                entries: Sequence[tuple[int, dict[str, Any]]]) -> dict[int, tuple[str, str]]:
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


def _with_rows(session: Session, year: int, entries: list[tuple[int, int, dict[str, Any]]],
               types: list[int] | None) -> list[dict[str, Any]]:
    by_entry: dict[int, list[dict[str, Any]]] = {i: [] for i, _, _ in entries}
    if entries:
        q = select(Emission.data_entry_id, Emission.emission_type_id, Emission.scope,
                   Emission.kg_co2eq, Emission.additional_value, Emission.primary_factor_id
                   ).where(Emission.data_entry_id.in_(list(by_entry)))
        if types is not None:
            q = q.where(Emission.emission_type_id.in_(types))
        for de, et, scope, kg, add, fid in session.execute(q.order_by(Emission.data_entry_id,
                                                                      Emission.id)):
            by_entry[de].append(row_dict(et, scope, kg, add, fid))
    reasons: dict[int, tuple[str, str]] = {}
    without: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for i, det, data in entries:
        if not by_entry[i]:
            without.setdefault(det, []).append((i, data))
    for det, group in without.items():
        reasons.update(reasons_for(session, det, year, group))
    return [{"id": i, "data_entry_type_id": det, "data_entry_type_name": DataEntryType(det).name,
             "data": data, "emissions": by_entry[i],
             "reason_kind": reasons.get(i, (None, None))[0],
             "reason": reasons.get(i, (None, None))[1]} for i, det, data in entries]


def _agrees(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[0] == b[0] and a[1] == b[1] and a[4] == b[4] and math.isclose(
        a[2], b[2], rel_tol=1e-12, abs_tol=1e-12)


def explain_data_entry(session: Session, entry_id: int) -> dict[str, Any] | None:
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
    stored_out = []
    for s, used in zip(stored, computed_with, strict=True):
        match = next((f for f in pending if _agrees(s, f)), None)
        if match is not None:
            pending.remove(match)
        stored_out.append({**row_dict(*s), "agrees": match is not None,
                           "factor_version": used.version if used else None,
                           "factor_set_by_job_id": used.job_id if used else None})
    fids = sorted({f for *_, f in fresh if f is not None} | {s[4] for s in stored if s[4]})
    current = versions_at(session, fids)
    factors = [{"id": f.id, "emission_type_id": f.emission_type_id,
                "classification": f.classification, "values": f.values,
                "retired_at": f.retired_at, **_version_fields(current.get(f.id))}
               for f in session.scalars(
        select(Factor).where(Factor.id.in_(fids)).order_by(Factor.id))] if fids else []
    return {
        "id": e.id, "data_entry_type_id": e.data_entry_type_id,
        "data_entry_type_name": DataEntryType(e.data_entry_type_id).name, "year": e.year,
        "report_id": e.carbon_report_id, "module_type_id": e.module_type_id,
        "unit_code": e.institutional_code, "data": data, "strategy": ex.strategy,
        "resolved_emission_types": [{"emission_type_id": t, "emission_type_path":
                                     EmissionType(t).path} for t in ex.resolved_types],
        "factors": factors,
        "rows": [{**row_dict(r.emission_type_id, r.scope or 0, r.kg_co2eq, r.additional_value,
                             r.factor_id), "formula": r.formula, "substituted": r.substituted,
                  "inputs": r.inputs} for r in ex.rows],
        "reason_kind": ex.reason_kind, "reason": ex.reason,
        "stored_rows": stored_out,
        "stored_rows_agree": not pending and all(s["agrees"] for s in stored_out),
    }


def _version_fields(v: FactorVersion | None) -> dict[str, Any]:
    """The factor's current version (the one the recomputed rows use) and the upload that
    set it; None for a factor without history (written outside every service)."""
    return {"version": v.version if v else None, "set_by_job_id": v.job_id if v else None,
            "set_by": v.changed_by if v else None, "set_at": v.changed_at if v else None,
            "change": v.change if v else None}


def _versions_of_rows(session: Session, rows: Sequence[tuple[Any, ...]]
                      ) -> list[FactorVersion | None]:
    """For each stored row (…, factor id, computed_at): the version of its factor that was
    in force when the row was computed."""
    by_time: dict[Any, dict[int, FactorVersion]] = {}
    for *_, fid, at in rows:
        if fid is not None and at not in by_time:
            by_time[at] = versions_at(session, [r[4] for r in rows if r[4] is not None], at)
    return [by_time[at].get(fid) if fid is not None else None for *_, fid, at in rows]
