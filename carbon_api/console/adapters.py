"""What the console reads, behind small functions so the pages do not depend on the shape of
the status services: the year's modules and types (staleness with its reason, counts,
"incomplete"), module totals, and the recalculation preview.

Reads only; each function takes the request's session. When the SQL status service lands,
``year_overview`` switches to it in a few lines (same output shape).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.db.enums import ACTIVE_STATES, JobType
from carbon_domain.db.models import (
    BuildingRoom, CarbonReport, CarbonReportModule, DataEntry, ExchangeRate, Factor, Station)
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.services.status import recalculation_status
from carbon_domain.services.totals import module_totals

D = DataEntryType
_INPUT_NAMES = {JobType.factor_ingest: "factor upload", JobType.csv_ingest: "data upload"}
_PURCHASES = {D.scientific_equipment, D.it_equipment, D.consumable_accessories,
              D.biological_chemical_gaseous_product, D.services, D.vehicles,
              D.other_purchases}
_BUILDING_TYPES = {D.building}
_TRAIN_TYPES = {D.train}


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


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "an unknown time"


def stale_reason(input_job: Any, recalc_job: Any | None) -> str:
    """One sentence naming the newer input and the recalculation it outdates."""
    what = _INPUT_NAMES.get(input_job.job_type, input_job.job_type)
    head = (f"{what} #{input_job.id} of {_when(input_job.finished_at or input_job.created_at)}"
            f" by {input_job.created_by or 'unknown'}")
    if recalc_job is None:
        return f"{head} has not been recalculated yet"
    return f"{head} is newer than recalculation #{recalc_job.id}"


def _counts(session: Session, year: int) -> tuple[dict[int, int], dict[int, int]]:
    entries = dict(session.execute(
        select(DataEntry.data_entry_type_id, func.count()).where(DataEntry.year == year)
        .group_by(DataEntry.data_entry_type_id)).all())
    factors = dict(session.execute(
        select(Factor.data_entry_type_id, func.count())
        .where(or_(Factor.year == year, Factor.year.is_(None)), Factor.retired_at.is_(None))
        .group_by(Factor.data_entry_type_id)).all())
    return entries, factors


def _reference_gaps(session: Session, year: int, entries: dict[int, int]) -> dict[int, str]:
    gaps: dict[int, str] = {}
    if any(entries.get(d) for d in _BUILDING_TYPES) and not session.scalar(
            select(func.count()).select_from(BuildingRoom)):
        for d in _BUILDING_TYPES:
            gaps[d] = "building rooms are missing (upload them on the reference card)"
    if any(entries.get(d) for d in _TRAIN_TYPES) and not session.scalar(
            select(func.count()).select_from(Station)):
        for d in _TRAIN_TYPES:
            gaps[d] = "stations are missing (upload them on the reference card)"
    used = [d for d in _PURCHASES if entries.get(d)]
    if used:
        currencies = set(session.scalars(
            select(Factor.values["currency"].as_string()).distinct()
            .where(Factor.data_entry_type_id.in_([int(d) for d in used]),
                   or_(Factor.year == year, Factor.year.is_(None)))))
        foreign = {c for c in currencies if c and c.upper() != "EUR"}
        rated = set(session.scalars(select(ExchangeRate.currency).where(
            ExchangeRate.year == year)))
        missing = sorted(foreign - {c.upper() for c in rated})
        if missing:
            for d in used:
                gaps[d] = (f"exchange rates for {year} are missing ({', '.join(missing)})")
    return gaps


def _jobs_by_id(session: Session, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {r.id: r for r in session.execute(
        select(Job.id, Job.job_type, Job.created_by, Job.created_at, Job.finished_at,
               Job.status_message, Job.result, Job.meta).where(Job.id.in_(ids)))}


def year_overview(session: Session, year: int) -> list[ModuleRow]:
    """Every module of the catalog with every type, for the data management page."""
    status = {m["module_type_id"]: {t["data_entry_type_id"]: t for t in m["data_entry_types"]}
              for m in recalculation_status(session, year)}
    ids = {i for types in status.values() for t in types.values()
           for i in (t["last_input_job_id"], t["last_recalculation_job_id"]) if i}
    jobs = _jobs_by_id(session, ids)
    entries, factors = _counts(session, year)
    gaps = _reference_gaps(session, year, entries)
    totals = {t["module_type_id"]: t for t in module_totals(session, year)}
    computed = dict(session.execute(
        select(CarbonReportModule.module_type_id, func.max(CarbonReportModule.last_updated))
        .join(CarbonReport, CarbonReport.id == CarbonReportModule.carbon_report_id)
        .where(CarbonReport.year == year, CarbonReportModule.stats.is_not(None))
        .group_by(CarbonReportModule.module_type_id)).all())
    aggregating = set(session.scalars(
        select(Job.module_type_id).where(Job.year == year, Job.job_type == JobType.aggregation,
                                         Job.state.in_(ACTIVE_STATES))))
    active_recalc = set(session.execute(
        select(Job.module_type_id, Job.data_entry_type_id).where(
            Job.year == year, Job.job_type == JobType.emission_recalc,
            Job.state.in_(ACTIVE_STATES))).tuples())
    out = []
    for module in ModuleType:
        rows = []
        for det in MODULE_DATA_ENTRY_TYPES[module]:
            st = status.get(module.value, {}).get(det.value)
            row = TypeRow(det.value, det.name, label(det.name),
                          entry_count=int(entries.get(det.value, 0)),
                          has_factors=bool(factors.get(det.value)))
            row.in_progress = (module.value, det.value) in active_recalc
            if st is not None:
                last_in = jobs.get(st["last_input_job_id"])
                last_re = jobs.get(st["last_recalculation_job_id"] or -1)
                row.stale = bool(st["needs_recalculation"])
                if row.stale and last_in is not None:
                    row.stale_reason = stale_reason(last_in, last_re)
                if last_re is not None:
                    row.last_result = last_re.result
                    row.last_message = last_re.status_message
                    rec = (last_re.meta or {}).get("recalculation") or {}
                    if "missing_factors" in rec:
                        row.without_factor = int(rec["missing_factors"])
            if row.entry_count and not row.has_factors:
                row.incomplete_reasons.append(f"no factors for {year}")
            if det.value in gaps:
                row.incomplete_reasons.append(gaps[det.value])
            rows.append(row)
        t = totals.get(module.value, {})
        out.append(ModuleRow(
            module.value, module.name, label(module.name), rows,
            scope1=float(t.get("scope1", 0.0)), scope2=float(t.get("scope2", 0.0)),
            scope3=float(t.get("scope3", 0.0)), total=float(t.get("total", 0.0)),
            computed_at=computed.get(module.value), aggregating=module.value in aggregating))
    return out


def has_reports(session: Session, year: int) -> bool:
    return session.scalar(select(CarbonReport.id).where(CarbonReport.year == year).limit(1)
                          ) is not None


def module_overview(session: Session, year: int, module: int) -> ModuleRow:
    return next(m for m in year_overview(session, year) if m.module == module)
