"""What the console reads, shaped for its templates: the year's modules and types (staleness
with its reason, counts, "incomplete", totals, in-progress markers) from the status services
(``carbon_domain.services.status``/``completeness``, the same reads as
``GET /v1/sync/recalculation-status``, so page and API agree), and the recalculation preview.
Reads only; each function takes the request's session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.services.completeness import completeness
from carbon_domain.services.queries import year_provisioned
from carbon_domain.services.status import TypePreview, recalculation_preview, year_status


@dataclass
class TypeRow:
    det: int
    name: str
    label: str
    stale: bool = False
    stale_reason: str | None = None
    in_progress: bool = False
    last_result: str | None = None
    last_message: str | None = None
    entry_count: int = 0
    without_factor: int | None = None
    has_factors: bool = False
    incomplete_reasons: list[str] = field(default_factory=list)

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

    @property
    def stale(self) -> bool:
        return any(t.stale for t in self.types)

    @property
    def in_progress(self) -> bool:
        return self.aggregating or any(t.in_progress for t in self.types)

    @property
    def stale_types(self) -> list[TypeRow]:
        return [t for t in self.types if t.stale]


_WORDS = {"it": "IT", "ai": "AI", "co2": "CO2"}


def label(name: str) -> str:
    words = name.replace("_", " ").split()
    out = [_WORDS.get(w.lower(), w) for w in words]
    if out and out[0] == words[0]:
        out[0] = out[0].capitalize()
    return " ".join(out)


def year_overview(session: Session, year: int) -> list[ModuleRow]:
    """Every module of the catalog with every type, for the data management page: the
    status service's typed read (SQL, cached counts) for the types with uploads, and the
    completeness facts (entries, live factors, missing reference data) for the others."""
    found = year_status(session, year)
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
                row.stale = st.needs_recalculation
                row.stale_reason = st.stale_reason
                row.in_progress = st.recalculation_in_progress
                row.without_factor = st.entries_without_factor
                if st.last_recalculation is not None:
                    row.last_result = st.last_recalculation.result
                    row.last_message = st.last_recalculation.status_message
            rows.append(row)
        ms = modules.get(module.value)
        out.append(ModuleRow(
            module.value, module.name, label(module.name), rows,
            scope1=ms.totals_kg.scope1 if ms else 0.0, scope2=ms.totals_kg.scope2 if ms else 0.0,
            scope3=ms.totals_kg.scope3 if ms else 0.0, total=ms.totals_kg.total if ms else 0.0,
            computed_at=ms.computed_at if ms else None,
            aggregating=bool(ms and ms.aggregation_in_progress)))
    return out


def has_reports(session: Session, year: int) -> bool:
    return year_provisioned(session, year)


def module_overview(session: Session, year: int, module: int) -> ModuleRow:
    return next(m for m in year_overview(session, year) if m.module == module)


def preview(session: Session, year: int, module: int) -> dict[int, TypePreview]:
    """Per type, what recalculating the module would touch (the dialog's preview)."""
    return {t.data_entry_type_id: t for t in recalculation_preview(session, module, year)}
