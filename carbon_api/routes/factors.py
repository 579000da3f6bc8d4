"""Factors with their status (live / retired): what a factor file changed."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from carbon_api.deps import (
    INT32_MAX,
    DetQuery,
    ModuleQuery,
    OptionalYear,
    Viewer,
    check_det_in_module,
)
from carbon_api.errors import R404, READ
from carbon_api.schemas import FactorPage
from carbon_api.schemas_reads import FactorOut
from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.factor_history import factor_timeline
from carbon_domain.services.inputs.factor_listing import list_factors

router = APIRouter(prefix="/factors", tags=["factors"], responses=READ)


@router.get("", response_model=FactorPage)
def factors(
    _: Viewer,
    module_type_id: ModuleQuery = None,
    data_entry_type_id: DetQuery = None,
    year: OptionalYear = None,
    include_retired: Annotated[bool, Query(
        description="Also list retired factors (absent from the latest file of their type "
                    "and year; never matched again).")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    page: Annotated[int | None, Query(
        ge=1, le=1_000_000, description="1-based page of `limit` items (instead of "
                                        "`offset`).")] = None,
) -> dict[str, Any]:
    """Factors filtered by module, data entry type and year, ordered by type, year and id,
    paged: `{items, total, limit, offset}`. Each carries its `status` (`live` or `retired`),
    `retired_at` / `retired_by_job_id` and `changed_by_job_id` (the last upload that
    inserted, changed, retired or revived it). A type that is not one of the module's → 422."""
    if module_type_id is not None:
        check_det_in_module(module_type_id, data_entry_type_id, "query")
    if page is not None:
        offset = (page - 1) * limit
    with session_scope() as s:
        found = list_factors(
            s, module_type_id=module_type_id.value if module_type_id else None,
            data_entry_type_id=data_entry_type_id.value if data_entry_type_id else None,
            year=year, include_retired=include_retired, limit=limit, offset=offset)
    return {"items": [asdict(f) for f in found.items], "total": found.total,
            "limit": found.limit, "offset": found.offset}


class FactorChangeOut(BaseModel):
    version: int = Field(description="1 for the oldest change; the factor's current version "
                                     "is the last one's.")
    change: Literal["inserted", "updated", "retired", "revived", "computed", "recorded"] = Field(
        description="`computed`: a facility refresh rewrote computed values; `recorded`: the "
                    "state found when history started (earlier changes were not kept).")
    job_id: int | None = Field(description="The upload (or recalculation) that made it.")
    changed_by: str | None
    changed_at: datetime
    values_before: dict[str, Any] | None
    values_after: dict[str, Any] | None
    changed_keys: list[str] = Field(description="Value keys that differ before → after.")


class FactorHistoryOut(BaseModel):
    factor: FactorOut
    changes: list[FactorChangeOut] = Field(description="Oldest first.")


@router.get("/{factor_id}/history", response_model=FactorHistoryOut,
            responses={404: {**R404, "description": "No such factor."}})
def factor_history(_: Viewer, factor_id: Annotated[int, Path(ge=1, le=INT32_MAX)]) -> Any:
    """Every change to one factor, oldest first: inserted, values updated, retired, revived
    (and computed facility values), each with the job, who, when and the values before and
    after. Written in the same transaction as the change, on every write path."""
    with session_scope() as s:
        found = factor_timeline(s, factor_id)
    if found is None:
        raise HTTPException(404, f"factor {factor_id} not found")
    return {"factor": asdict(found.factor), "changes": [asdict(c) for c in found.changes]}
