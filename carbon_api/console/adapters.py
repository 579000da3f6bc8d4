"""What the console reads, shaped for its templates: the year's modules and types (staleness
with its reason, counts, "incomplete", totals, in-progress markers) from the status services
(``carbon_domain.services.reads.status``/``completeness``, the same reads as
``GET /v1/sync/recalculation-status``, so page and API agree), the warnings beside the
download links when an export's numbers are not up to date (``exports.freshness`` over the
same status read), and the recalculation preview. Reads only; each function takes the
request's session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.names import type_label
from carbon_domain.services.exports.freshness import export_freshness, freshness_of
from carbon_domain.services.reads.completeness import completeness
from carbon_domain.services.reads.display_state import (
    DisplayState,
    decide_module,
    entries_progress,
)
from carbon_domain.services.reads.queries import year_provisioned
from carbon_domain.services.reads.status import (
    TypePreview,
    display_without_inputs,
    recalculation_preview,
    year_status,
)


@dataclass
class TypeRow:
    det: int
    name: str
    label: str
    state: str = DisplayState.up_to_date.value  # display_state.decide: the one state
    state_label: str = ""
    reasons: list[str] = field(default_factory=list)
    detail: str | None = None
    action: str = "Recalculate"
    active_pipeline_id: str | None = None
    # ``detail`` is the running type's count: shown only where the stream keeps it live.
    detail_is_count: bool = False
    stale_reason: str | None = None
    last_result: str | None = None
    last_message: str | None = None
    entry_count: int = 0
    without_factor: int | None = None  # entries of the slice with no matching factor
    not_computed: int | None = None  # entries that could not be computed (errors)
    has_factors: bool = False
    incomplete_reasons: list[str] = field(default_factory=list)
    # Beside its data CSV link when that export is not up to date (None when it is).
    export_warning: str | None = None

    needs: bool = False  # recalculating it would change something ("only stale" picks it)

    @property
    def stale(self) -> bool:
        return self.needs

    @property
    def failed(self) -> bool:
        return self.state == DisplayState.failed

    @property
    def in_progress(self) -> bool:
        return self.state == DisplayState.recalculating

    @property
    def incomplete(self) -> bool:
        return bool(self.incomplete_reasons)


@dataclass
class ModuleRow:
    module: int
    name: str
    label: str
    types: list[TypeRow]
    scope1: float = 0.0
    scope2: float = 0.0
    scope3: float = 0.0
    total: float = 0.0
    computed_at: datetime | None = None
    aggregating: bool = False
    state: str = DisplayState.up_to_date.value  # display_state.decide_module
    state_label: str = ""
    action: str = "Recalculate"
    state_detail: str | None = None  # why its totals were not updated (failed aggregation)
    # Beside its results.csv button: the year's, the same on every card (the file holds
    # every module); None when results.csv is up to date.
    results_warning: str | None = None

    @property
    def stale(self) -> bool:
        return any(t.stale for t in self.types)

    @property
    def in_progress(self) -> bool:
        return self.state == DisplayState.recalculating

    @property
    def stale_types(self) -> list[TypeRow]:
        return [t for t in self.types if t.stale]

    @property
    def retry_types(self) -> list[TypeRow]:
        """Failed or aborted types whose numbers are intact ("only stale" leaves them)."""
        return [t for t in self.types if t.failed and not t.stale]

    @property
    def running_pipelines(self) -> list[str]:
        """The pipelines recalculating its types now (the card links to them)."""
        return sorted({t.active_pipeline_id for t in self.types if t.active_pipeline_id})


def label(name: str) -> str:
    return type_label(name)


def year_overview(session: Session, year: int) -> list[ModuleRow]:
    """Every module of the catalog with every type, for the data management page: the
    status service's typed read, with its one display state per type and module, for the
    types with uploads; the same decision over the completeness facts for the others."""
    found = year_status(session, year)
    results = freshness_of(found, year).warning
    modules = {m.module_type_id: m for m in found}
    status = {(t.module_type_id, t.data_entry_type_id): t
              for m in found for t in m.data_entry_types}
    comp = completeness(session, year, [d.value for d in DataEntryType])
    out = []
    for module in ModuleType:
        rows = []
        for det in MODULE_DATA_ENTRY_TYPES[module]:
            c = comp[det.value]
            row = TypeRow(det.value, det.name, label(det.name), entry_count=c.entry_count,
                          has_factors=c.live_factor_count > 0,
                          incomplete_reasons=list(c.reasons))
            st = status.get((module.value, det.value))
            if st is not None:
                row.state, row.state_label, row.reasons = st.state, st.state_label, st.reasons
                row.detail, row.action = st.state_detail, st.action
                row.active_pipeline_id = st.active_pipeline_id
                # The card is re-read when a phase or a type starts or ends, not per chunk:
                # a count in the status cell stood at "0/1,537 entries" for the whole run.
                # The row's progress link shows it and the stream replaces it there.
                row.detail_is_count = bool(
                    st.active_pipeline_id and st.progress and st.state_detail
                    == entries_progress(st.progress["done"], st.progress["total"]))
                row.stale_reason, row.needs = st.stale_reason, st.needs_recalculation
                row.export_warning = freshness_of(found, year, det.value).warning
                row.without_factor = st.entries_without_factor
                row.not_computed = st.entries_with_errors
                # The status's reasons: the completeness facts plus entries its last run
                # left without a matching factor.
                row.incomplete_reasons = list(st.incomplete_reasons)
                if st.last_recalculation is not None:
                    row.last_result = st.last_recalculation.result
                    row.last_message = st.last_recalculation.status_message
            else:
                shown = display_without_inputs(c)
                row.state, row.state_label = shown.state.value, shown.label
                row.detail = shown.detail
            rows.append(row)
        ms = modules.get(module.value)
        # The status service's facts, not the console's: a failed aggregation (totals not
        # updated) is decided by the same decide_module as the API and the CLI.
        md = decide_module([DisplayState(r.state) for r in rows],
                           bool(ms and ms.aggregation_in_progress),
                           ms.aggregation_failed if ms else None,
                           sum(r.entry_count for r in rows))
        out.append(ModuleRow(
            module.value, module.name, label(module.name), rows,
            scope1=ms.totals_kg.scope1 if ms else 0.0, scope2=ms.totals_kg.scope2 if ms else 0.0,
            scope3=ms.totals_kg.scope3 if ms else 0.0, total=ms.totals_kg.total if ms else 0.0,
            computed_at=ms.computed_at if ms else None,
            aggregating=bool(ms and ms.aggregation_in_progress),
            state=md.state.value, state_label=md.label, action=md.action,
            state_detail=md.detail, results_warning=results))
    return out


def results_warning(session: Session, year: int) -> str | None:
    """What the report page says beside its results.csv links (None: up to date)."""
    return export_freshness(session, year).warning


def has_reports(session: Session, year: int) -> bool:
    return year_provisioned(session, year)


def module_overview(session: Session, year: int, module: int) -> ModuleRow:
    return next(m for m in year_overview(session, year) if m.module == module)


def preview(session: Session, year: int, module: int) -> dict[int, TypePreview]:
    """Per type, what recalculating the module would touch (the dialog's preview)."""
    return {t.data_entry_type_id: t for t in recalculation_preview(session, module, year)}
