"""The factors of a module, type or year with their status (live / retired), so an operator
can see what a factor file changed (GET /v1/factors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import (
    MODULE_DATA_ENTRY_TYPES,
    DataEntryType,
    ModuleType,
    check_module_type,
)
from carbon_domain.db.models import Factor
from carbon_domain.emission_types import EmissionType
from carbon_domain.json_types import JsonObject


@dataclass(frozen=True, slots=True)
class FactorItem:
    id: int
    data_entry_type_id: int
    data_entry_type_name: str
    emission_type_id: int
    emission_type_path: str | None
    year: int | None
    classification: JsonObject
    values: JsonObject
    status: str  # live | retired
    retired_at: datetime | None
    retired_by_job_id: int | None
    changed_by_job_id: int | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class FactorPage:
    items: list[FactorItem]
    total: int
    limit: int
    offset: int


def _path(et: int) -> str | None:
    try:
        return EmissionType(et).path
    except ValueError:
        return None


def list_factors(session: Session, *, module_type_id: int | None = None,
                 data_entry_type_id: int | None = None, year: int | None = None,
                 include_retired: bool = False, limit: int = 100, offset: int = 0
                 ) -> FactorPage:
    """Factors ordered by type, year and id. InvalidInput when the type is not one of
    the module's (the route answers 422)."""
    conds = []
    if data_entry_type_id is not None:
        det = DataEntryType(data_entry_type_id)
        if module_type_id is not None:
            check_module_type(ModuleType(module_type_id), det)
        conds.append(Factor.data_entry_type_id == det.value)
    elif module_type_id is not None:
        dets = [d.value for d in MODULE_DATA_ENTRY_TYPES[ModuleType(module_type_id)]]
        conds.append(Factor.data_entry_type_id.in_(dets))
    if year is not None:
        conds.append(Factor.year == year)
    if not include_retired:
        conds.append(Factor.retired_at.is_(None))
    total = int(session.scalar(select(func.count()).select_from(Factor).where(*conds)) or 0)
    rows = session.scalars(select(Factor).where(*conds).order_by(
        Factor.data_entry_type_id, Factor.year, Factor.id).limit(limit).offset(offset))
    return FactorPage([factor_item(f) for f in rows], total, limit, offset)


def factor_item(f: Factor) -> FactorItem:
    return FactorItem(
        id=f.id, data_entry_type_id=f.data_entry_type_id,
        data_entry_type_name=DataEntryType(f.data_entry_type_id).name,
        emission_type_id=f.emission_type_id, emission_type_path=_path(f.emission_type_id),
        year=f.year, classification=f.classification or {}, values=f.values or {},
        status="retired" if f.retired_at is not None else "live", retired_at=f.retired_at,
        retired_by_job_id=f.retired_by_job_id, changed_by_job_id=f.changed_by_job_id,
        updated_at=f.updated_at)
