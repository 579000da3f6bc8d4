"""Streamed CSV exports: ``results.csv`` (from the stats) and ``<type>_data.csv`` (rows).

Every export answers with ``X-Carbon-Last-Recalculation-Job``: the id of the newest finished
recalculation of its scope (``none`` when there was none), so a file can be traced back.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from carbon_api.csv_downloads import HEADER, precheck_export, stream_csv
from carbon_api.deps import DetPath, Viewer, Year
from carbon_api.errors import R404, R409, READ, ErrorResponse, Responses
from carbon_api.export_limit import limited
from carbon_api.routes.reports import UnitCode
from carbon_domain.services.exports import exports
from carbon_domain.settings import get_settings

router = APIRouter(prefix="/exports", tags=["exports"], responses=READ)
AllowStale = Annotated[bool, Query(description="Export even while a recalculation or "
                                               "aggregation of the scope is active.")]
CSV_OK: Responses = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": f"UTF-8 CSV with a header row; header `{HEADER}` names the last "
                         "recalculation job it reflects.",
          "headers": {HEADER: {"schema": {"type": "string"}}}},
    404: {**R404, "description": "Unknown year (no reports) or unit."},
    409: {**R409, "description": "A recalculation or aggregation of the scope is active."},
}
FULL_YEAR: Responses = {**CSV_OK, 429: {
    "model": ErrorResponse, "description": "The caller already has CARBON_EXPORT_CONCURRENCY "
    "full-year exports running (Retry-After: seconds)."}}


@router.get("/results.csv", response_class=StreamingResponse, responses=FULL_YEAR)
def results_csv(who: Viewer, year: Year, unit: UnitCode = None,
                allow_stale: AllowStale = False) -> StreamingResponse:
    """One line per unit × module × stored emission type with the stats' kg (columns:
    unit_institutional_code, unit_name, module_type_id, module_name, emission_type_id,
    emission_type_path, scope, kg_co2eq, computed_at). Without `unit` (the whole year) it
    counts towards the caller's concurrent full-year exports."""
    def make() -> StreamingResponse:
        job = precheck_export(year, None, unit, allow_stale)
        return stream_csv("results.csv", job, lambda s: exports.results_csv(s, year, unit))
    if unit is not None:
        return make()
    return limited(who.name, get_settings().export_concurrency, make)


@router.get("/data/{data_entry_type_id}.csv", response_class=StreamingResponse,
            responses=FULL_YEAR)
def data_csv(who: Viewer, data_entry_type_id: DetPath, year: Year,
             allow_stale: AllowStale = False) -> StreamingResponse:
    """One line per emission row of the type and year, plus one per entry without a row
    (with the reason): unit, the entry's input columns, emission type, factor, kg. A
    full-year export: at most CARBON_EXPORT_CONCURRENCY at once per caller (429 past it)."""
    det = data_entry_type_id.value

    def make() -> StreamingResponse:
        job = precheck_export(year, det, None, allow_stale)
        return stream_csv(exports.data_filename(det), job,
                          lambda s: exports.data_csv(s, det, year))
    return limited(who.name, get_settings().export_concurrency, make)
