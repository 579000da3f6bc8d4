"""Carbon reports with their stats, and one module's stats with its rollup tree."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from carbon_api.deps import ModulePath, ReportId, Viewer, Year
from carbon_api.errors import R404, READ
from carbon_api.schemas import ModuleStatsOut, ReportPage
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads import queries

router = APIRouter(prefix="/reports", tags=["reports"], responses=READ)

UnitCode = Annotated[str | None, Query(
    min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$",
    description="A unit's institutional code.", examples=["LAB-A"])]


@router.get("", response_model=ReportPage, responses={404: {
    **R404, "description": "`unit` names no unit."}})
def list_reports(_: Viewer, year: Year, unit: UnitCode = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0) -> dict[str, Any]:
    """Carbon reports of a year (optionally one unit's) with their stats and their modules'
    stats, ordered by unit code and paged: `{items, total, limit, offset}`."""
    with session_scope() as s:
        found = queries.list_reports(s, year=year, unit_code=unit, limit=limit, offset=offset)
    if found is None:
        raise HTTPException(404, f"unit {unit!r} not found")
    items, total = found
    return {"items": [asdict(r) for r in items], "total": total, "limit": limit,
            "offset": offset}


@router.get("/{report_id}/modules/{module_type_id}/stats", response_model=ModuleStatsOut,
            responses={404: {**R404, "description": "No such report (or module of it)."}})
def module_stats(_: Viewer, report_id: ReportId, module_type_id: ModulePath
                 ) -> dict[str, Any]:
    """A report module's stats (scope1/2/3, total, by_emission_type, entry_count,
    missing_factors, computed_at, formula_version) plus the rollup tree of its emission
    types, ready for a treemap."""
    with session_scope() as s:
        found = queries.get_module_stats(s, report_id, module_type_id.value)
    if found is None:
        raise HTTPException(404, f"report {report_id} has no module {module_type_id.value} "
                                 f"({module_type_id.name}) or does not exist")
    return asdict(found)
