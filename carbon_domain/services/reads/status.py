"""Staleness status, derived from job ids and what each recalculation read, never clocks.

For a (module, data entry type, year) the last input job is the highest-id FINISHED,
non-ERROR job that changed its inputs (factor upload for that type or its whole module,
data entry upload for that type or its whole module, reference upload of a kind the type
reads: ``status_probes.last_input_job``). It needs recalculation while the last FINISHED,
non-ERROR recalculation did not read every landed input, while the code's formula version of
the type differs from the one its rows were computed with, and after a last recalculation
that failed or was aborted (status_facts.py); never while it has no entry, no row and no
finished recalculation (factors alone: ``Core.empty``). Each type then has one display
state (display_state.py) that the console, the API and the CLI all show.

An input job's id is taken when it is accepted, its rows land when it finishes: a
recalculation may be planned between the two. So its plan records ``inputs_read``
(services/recalc/inputs_read.py): the highest input job that had landed (``upto``) and those
below it that had not (``pending``); an input is read by it only if its id is ≤ ``upto`` and
not pending, whatever the order of the ids. A recalculation planned before that record keeps
the id rule: it read the inputs with a lower id, and the one that was still waiting when an
input arrived recorded ``covers_input_job_id``.

Everything is read with index probes and grouped queries (status_probes.py,
completeness.py); no job's meta is loaded except the per-type stats of recalculations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.db.models import CarbonReport, CarbonReportModule
from carbon_domain.formula_versions import formula_version, recorded_version
from carbon_domain.services.reads.completeness import Completeness, completeness, entry_counts
from carbon_domain.services.reads.display_state import (
    DisplayState,
    TypeDisplay,
    TypeFacts,
    decide,
)
from carbon_domain.services.reads.recalc_scope import StaleScope, only_stale_scope
from carbon_domain.services.reads.status_facts import (
    Core,
    cores,
    facts,
    module_display,
    stale_reason,
)
from carbon_domain.services.reads.status_probes import JobBrief, input_label
from carbon_domain.services.recalc.unmatched import entries_not_computed, entries_without_factor


@dataclass(slots=True)
class InputJobRef:
    id: int
    kind: str  # factor_ingest | csv_ingest | reference_ingest
    label: str  # "factor upload" | "data entry upload" | "stations upload" | …
    result: str | None
    created_at: datetime | None
    created_by: str | None
    pipeline_id: str | None
    module_wide: bool  # uploaded for the whole module rather than this type


@dataclass(slots=True)
class RecalculationRef:
    id: int
    state: str
    result: str | None
    status_message: str | None
    finished_at: datetime | None
    pipeline_id: str | None


@dataclass(slots=True)
class FailedRunRef:
    job_id: int
    pipeline_id: str | None
    aborted: bool
    aborted_by: str | None
    chunks_done: int
    chunks_total: int
    partly_rewritten: bool
    text: str  # "recalculation #9 aborted by alice at chunk 3/8 — numbers partly rewritten"


@dataclass(slots=True)
class TypeStatus:
    module_type_id: int
    data_entry_type_id: int
    data_entry_type_name: str
    year: int
    needs_recalculation: bool
    recalculation_in_progress: bool
    last_input_job_id: int
    last_input_job_type: str
    last_input_job_result: str | None
    last_recalculation_job_id: int | None
    last_recalculation_job_result: str | None
    stale_reason: str | None
    last_input_job: InputJobRef
    last_recalculation: RecalculationRef | None  # the last FINISHED one, any result
    last_successful_recalculation_job_id: int | None
    active_recalculation_job_id: int | None
    active_pipeline_id: str | None
    entry_count: int
    # From the last good recalculation's stats (None before the first one); entries of the
    # slice without a matching factor (an incremental run carries its base's forward).
    entries_without_factor: int | None
    entries_with_errors: int | None
    live_factor_count: int
    incomplete: bool
    incomplete_reasons: list[str]
    # The one display state (display_state.decide): what every surface shows.
    state: str = DisplayState.up_to_date.value
    state_label: str = ""
    reasons: list[str] = field(default_factory=list)
    state_detail: str | None = None  # progress, where a failed run stopped, what is missing
    action: str = "Recalculate"  # "Retry" after a failed or aborted run
    progress: dict[str, int] | None = None  # {done, total} entries while recalculating
    failed_run: FailedRunRef | None = None
    formula_version: str = ""  # the code's version of the type's formula
    rows_formula_version: str | None = None  # the version its rows were computed with


@dataclass(slots=True)
class Totals:
    scope1: float = 0.0
    scope2: float = 0.0
    scope3: float = 0.0
    total: float = 0.0


@dataclass(slots=True)
class ModuleStatus:
    module_type_id: int
    module_name: str
    year: int
    needs_recalculation: bool
    recalculation_in_progress: bool
    data_entry_types: list[TypeStatus]
    totals_kg: Totals = field(default_factory=Totals)
    totals_t: Totals = field(default_factory=Totals)  # t CO2-eq, what the console shows
    computed_at: datetime | None = None  # latest stats computed_at over the year's reports
    aggregation_in_progress: bool = False  # "stats are being recalculated"
    active_aggregation_job_id: int | None = None
    incomplete: bool = False
    state: str = DisplayState.up_to_date.value  # the module's one state (decide_module)
    state_label: str = ""
    state_counts: dict[str, int] = field(default_factory=dict)  # types per state
    action: str = "Recalculate"
    # Why its totals were not updated: its last aggregation failed (None when it did not).
    aggregation_failed: str | None = None
    state_detail: str | None = None  # the module state's detail (that reason)


@dataclass(slots=True)
class TypePreview:
    data_entry_type_id: int
    data_entry_type_name: str
    entry_count: int  # what a full run ("All types", checked types) recalculates
    entries_to_recalculate: int  # what "only stale" would: the planner's scope; 0 if fresh
    needs_recalculation: bool
    stale_reason: str | None
    recalculation_in_progress: bool
    active_recalculation_job_id: int | None
    incremental: bool = False  # "only stale" would rewrite part of the slice
    scope_reason: str | None = None  # the planner's reason for that scope


def stale_types(session: Session, module_type_id: int, year: int) -> list[int]:
    """The module's data entry types that need recalculation (what "only stale" runs): an
    input newer than the last good run, a changed formula, or a last run that stopped after
    rewriting part of the rows."""
    return stale_and_retry_types(session, module_type_id, year)[0]


def retry_types(session: Session, module_type_id: int, year: int) -> list[int]:
    """The module's types shown as failed whose numbers are intact (the run failed or was
    aborted before any chunk finished): "only stale" leaves them, a retry re-runs them."""
    return stale_and_retry_types(session, module_type_id, year)[1]


def stale_and_retry_types(session: Session, module_type_id: int, year: int
                          ) -> tuple[list[int], list[int]]:
    """:func:`stale_types` and :func:`retry_types` from one read of the module's facts."""
    found = cores(session, year, [module_type_id])[0]
    return ([c.det for c in found if c.needs],
            [c.det for c in found if c.failed is not None and not c.needs])


def year_status(session: Session, year: int) -> list[ModuleStatus]:
    """Per module with factor or data uploads for ``year``: its types' status, totals and
    in-progress markers (the edges send it as JSON with ``dataclasses.asdict``)."""
    found, briefs = cores(session, year, None)
    if not found:
        return []
    comp = completeness(session, year, [c.det for c in found])
    totals = _module_totals(session, year)
    out: list[ModuleStatus] = []
    for module in ModuleType:
        mine = [c for c in found if c.combo.module == module.value]
        if not mine:
            continue
        types = [_type_status(c, year, briefs, comp[c.det]) for c in mine]
        mc = mine[0].module_combo
        kg, computed_at = totals.get(module.value, (Totals(), None))
        recalculating = any(t.recalculation_in_progress for t in types)
        md, aggregating, agg_failed = module_display(
            mine, briefs, [DisplayState(t.state) for t in types],
            sum(t.entry_count for t in types))
        out.append(ModuleStatus(
            module_type_id=module.value, module_name=module.name, year=year,
            needs_recalculation=any(t.needs_recalculation for t in types),
            recalculation_in_progress=recalculating, data_entry_types=types,
            totals_kg=kg, totals_t=Totals(*(v / 1000.0 for v in asdict(kg).values())),
            computed_at=computed_at, aggregation_in_progress=aggregating,
            active_aggregation_job_id=mc.active_aggregation,
            incomplete=any(t.incomplete for t in types),
            state=md.state.value, state_label=md.label, state_counts=md.counts,
            action=md.action, aggregation_failed=agg_failed, state_detail=md.detail))
    return out


def display_without_inputs(comp: Completeness) -> TypeDisplay:
    """The state of a type no upload ever touched for the year (nothing to recalculate)."""
    return decide(TypeFacts(missing=tuple(comp.reasons), entry_count=comp.entry_count))


def recalculation_preview(session: Session, module_type_id: int, year: int
                          ) -> list[TypePreview]:
    """What recalculating the module would touch, per data entry type (every type of the
    module, stale or not): every entry for a full run (``entry_count``) and, for the default
    only-stale run, the planner's own scope of a stale type (recalc_scope.py), 0 of the
    types it leaves."""
    module = ModuleType(module_type_id)
    dets = [d.value for d in MODULE_DATA_ENTRY_TYPES[module]]
    found, briefs = cores(session, year, [module.value])
    by_det = {c.det: c for c in found}
    counts = entry_counts(session, year, dets)
    out = []
    for det in dets:
        c = by_det.get(det)
        n = counts.get(det, 0)
        scope = only_stale_scope(session, module.value, det, year, n) if c and c.needs \
            else StaleScope(0, False, "not stale: “only stale” leaves it")
        out.append(TypePreview(
            data_entry_type_id=det, data_entry_type_name=DataEntryType(det).name,
            entry_count=n, entries_to_recalculate=scope.entries, incremental=scope.incremental,
            scope_reason=scope.reason, needs_recalculation=bool(c and c.needs),
            stale_reason=stale_reason(c, briefs) if c else None,
            recalculation_in_progress=bool(c and c.combo.active_recalc),
            active_recalculation_job_id=c.combo.active_recalc if c else None))
    return out


def _type_status(c: Core, year: int, briefs: dict[int, JobBrief], comp: Completeness
                 ) -> TypeStatus:
    det = c.det
    last_in = briefs[c.input_id]
    fin = briefs.get(c.combo.finished_recalc or 0)
    good = briefs.get(c.combo.good_recalc or 0)
    active = briefs.get(c.combo.active_recalc or 0)
    stats = (good.recalculation if good else None) or {}
    # Its counts are of the entries it computed: none when an upload replaced them since.
    current = good is not None and c.replaced_by is None
    unmatched = entries_without_factor(stats) if current else None
    errors = entries_not_computed(stats) if current else None
    missing = [*comp.reasons, *_unmatched_reason(unmatched, comp), *_error_reason(errors)]
    f = facts(c, briefs, missing, comp.entry_count)
    shown = decide(f)
    return TypeStatus(
        module_type_id=c.combo.module, data_entry_type_id=det,
        data_entry_type_name=DataEntryType(det).name, year=year,
        needs_recalculation=c.needs, recalculation_in_progress=active is not None,
        last_input_job_id=last_in.id, last_input_job_type=last_in.job_type,
        last_input_job_result=last_in.result,
        last_recalculation_job_id=fin.id if fin else None,
        last_recalculation_job_result=fin.result if fin else None,
        stale_reason=stale_reason(c, briefs),
        last_input_job=InputJobRef(
            last_in.id, last_in.job_type, input_label(last_in),
            last_in.result, last_in.created_at, last_in.created_by, _str(last_in.pipeline_id),
            module_wide=last_in.id in c.module_combo.inputs.values()),
        last_recalculation=RecalculationRef(
            fin.id, fin.state, fin.result, fin.status_message, fin.finished_at,
            _str(fin.pipeline_id)) if fin else None,
        last_successful_recalculation_job_id=good.id if good else None,
        active_recalculation_job_id=active.id if active else None,
        active_pipeline_id=_str(active.pipeline_id) if active else None,
        entry_count=comp.entry_count,
        entries_without_factor=unmatched[0] if unmatched else None,
        entries_with_errors=errors,
        live_factor_count=comp.live_factor_count,
        incomplete=bool(missing), incomplete_reasons=missing,
        state=shown.state.value, state_label=shown.label, reasons=shown.reasons,
        state_detail=shown.detail, action=shown.action,
        progress=None if f.active is None else {"done": f.active.done, "total": f.active.total},
        failed_run=None if c.failed is None else FailedRunRef(
            c.failed.job_id, c.failed.pipeline_id, c.failed.aborted, c.failed.aborted_by,
            c.failed.chunks_done, c.failed.chunks_total, c.failed.partly_rewritten,
            c.failed.text),
        formula_version=formula_version(det),
        rows_formula_version=recorded_version(good.recalculation) if good else None)


def _unmatched_reason(unmatched: tuple[int, int] | None, comp: Completeness) -> list[str]:
    """What the last good recalculation left without a factor: "205 of 307 entries without a
    matching factor" (nothing more when no factor of the year is live: that reason says it)."""
    if not unmatched or not unmatched[0] or not comp.live_factor_count:
        return []
    n, total = unmatched
    return [f"{n:,} of {total:,} {'entry' if total == 1 else 'entries'} without a matching"
            " factor"]


def _error_reason(errors: int | None) -> list[str]:
    """Entries the last good recalculation could not compute (no rows, not in the totals):
    "30 entries could not be computed (see errors)", never counted as without a factor."""
    if not errors:
        return []
    return [f"{errors:,} {'entry' if errors == 1 else 'entries'} could not be computed"
            " (see errors)"]


def _module_totals(session: Session, year: int
                   ) -> dict[int, tuple[Totals, datetime | None]]:
    """Sum of carbon_report_modules.stats over the year's reports, per module (kg)."""
    s = CarbonReportModule.stats
    rows = session.execute(
        select(CarbonReportModule.module_type_id,
               *[func.coalesce(func.sum(s[k].as_float()), 0.0)
                 for k in ("scope1", "scope2", "scope3", "total")],
               # Stats never computed (NULL) have no time, whatever the column holds.
               func.max(case((s.is_not(None), CarbonReportModule.stats_computed_at))))
        .join(CarbonReport, CarbonReport.id == CarbonReportModule.carbon_report_id)
        .where(CarbonReport.year == year)
        .group_by(CarbonReportModule.module_type_id))
    return {int(m): (Totals(float(a), float(b), float(c), float(t)), at)
            for m, a, b, c, t, at in rows}


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None
