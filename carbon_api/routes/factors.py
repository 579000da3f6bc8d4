"""Factors with their status (live / retired): what a factor file changed."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from carbon_api.deps import DetQuery, ModuleQuery, OptionalYear, Viewer, check_det_in_module
from carbon_api.errors import READ
from carbon_api.schemas import FactorPage
from carbon_domain.db.session import session_scope
from carbon_domain.services.factor_listing import list_factors

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
