"""Drill-down to the entries and rows behind a module total, and one entry explained."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError

from carbon_api.deps import INT32_MAX, DetQuery, ModulePath, ReportId, Viewer, check_det_in_module
from carbon_api.errors import R404, READ
from carbon_api.schemas_results import EntryPageOut, ExplainOut
from carbon_domain.catalog import MODULE_EMISSION_ROOTS
from carbon_domain.db.session import session_scope
from carbon_domain.emission_types import EmissionType
from carbon_domain.services.reads import drilldown

router = APIRouter(tags=["results"], responses=READ)
BIGINT_MAX = 2**63 - 1


def _check_emission_type(module: Any, value: int | None) -> None:
    if value is None or value in drilldown.module_emission_types(module.value):
        return
    try:
        what = f"{value} ({EmissionType(value).path})"
    except ValueError:
        what = f"{value} (no such emission type)"
    roots = ", ".join(f"{int(r)} ({r.path})" for r in MODULE_EMISSION_ROOTS[module])
    raise RequestValidationError([{
        "type": "value_error", "loc": ("query", "emission_type"), "input": value,
        "msg": f"emission type {what} is not part of module {module.value} ({module.name});"
               f" its emission types are under {roots}"}])


@router.get("/reports/{report_id}/modules/{module_type_id}/entries",
            response_model=EntryPageOut,
            responses={404: {**R404, "description": "No such report, or no such module in it."}})
def module_entries(
    _: Viewer, report_id: ReportId, module_type_id: ModulePath,
    data_entry_type_id: DetQuery = None,
    emission_type: Annotated[int | None, Query(
        ge=1, le=INT32_MAX, description="Keep entries with a row in this emission subtree "
        "(e.g. 60100 = buildings__rooms), and only those rows.", examples=[60100])] = None,
    missing: Annotated[bool | None, Query(
        description="true: only entries without any emission row; false: only with.")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page.")] = 1,
    limit: Annotated[int, Query(ge=1, le=drilldown.MAX_LIMIT)] = 50,
    after: Annotated[int | None, Query(
        ge=0, le=BIGINT_MAX, description="Keyset cursor: entries with a larger id (the "
        "previous page's `next_after`); combine with page=1.")] = None,
    count: Annotated[bool, Query(description="Also count the matching entries (`total`); "
                                             "costs a pass over the module.")] = False,
) -> Any:
    """A report module's data entries in ascending id order, each with its emission rows
    (type, scope, kg, factor) or the reason it has none. Cost is O(page)."""
    check_det_in_module(module_type_id, data_entry_type_id, "query")
    _check_emission_type(module_type_id, emission_type)
    with session_scope() as s:
        found = drilldown.module_entries(
            s, report_id, module_type_id.value,
            det=data_entry_type_id.value if data_entry_type_id else None,
            emission_type=emission_type, missing=missing, page=page, limit=limit, after=after,
            count=count)
    if found is None:
        raise HTTPException(404, f"report {report_id} has no module {module_type_id.value} "
                                 f"({module_type_id.name}) or does not exist")
    return found


@router.get("/data-entries/{entry_id}/explain", response_model=ExplainOut,
            responses={404: {**R404, "description": "No such data entry."}})
def explain(_: Viewer, entry_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)]) -> Any:
    """One entry recomputed on read by the pure engine (the code recalculation chunks
    run): resolved emission types, matched factors, each row's formula with its inputs
    substituted and its kg, and whether the stored rows agree."""
    with session_scope() as s:
        found = drilldown.explain_data_entry(s, entry_id)
    if found is None:
        raise HTTPException(404, f"data entry {entry_id} not found")
    return found
