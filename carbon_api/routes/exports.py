"""Streamed CSV exports: ``results.csv`` (from the stats) and ``<type>_data.csv`` (rows).

Every export answers with ``X-Carbon-Last-Recalculation-Job``: the id of the newest finished
recalculation of its scope (``none`` when there was none), so a file can be traced back, and
with ``X-Carbon-Up-To-Date``: ``false`` when a type of its scope needs recalculation (or a
module's totals were not updated, for results), named in ``X-Carbon-Stale-Types``,
``X-Carbon-Stale-Modules`` and the one line of ``X-Carbon-Export-Warning``; a type whose
last recalculation failed without rewriting is named in ``X-Carbon-Failed-Types`` (docs/api.md).
The CSV body is the same either way.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from carbon_api.csv_downloads import (
    HEADER,
    STALE_MODULES,
    STALE_TYPES,
    UP_TO_DATE,
    WARNING,
    precheck_export,
    stream_csv,
)
from carbon_api.deps import DetPath, Viewer, Year
from carbon_api.errors import R404, R409, READ, ErrorResponse, Responses
from carbon_api.export_limit import limited
from carbon_api.routes.reports import UnitCode
from carbon_domain.services.exports import exports
from carbon_domain.settings import get_settings

router = APIRouter(prefix="/exports", tags=["exports"], responses=READ)
AllowStale = Annotated[bool, Query(description="Export even while a recalculation or "
                                               "aggregation of the scope is active.")]
_STRING = {"type": "string"}
CSV_OK: Responses = {
    200: {"content": {"text/csv": {"schema": _STRING}},
          "description": f"UTF-8 CSV with a header row; header `{HEADER}` names the last "
                         f"recalculation job it reflects, `{UP_TO_DATE}` whether its numbers "
                         "are up to date (the status read's state: no type of the scope "
                         "needs recalculation, no module's totals left not updated).",
          "headers": {
              HEADER: {"schema": _STRING, "description": "Job id, or `none`."},
              UP_TO_DATE: {"schema": {"type": "string", "enum": ["true", "false"]},
                           "description": "`false`: the file has numbers that are not up "
                                          "to date; the headers below say which."},
              STALE_TYPES: {"schema": _STRING, "description": "Only when some: the data "
                            "entry types (names, comma-separated) that need recalculation "
                            "or are being recalculated."},
              STALE_MODULES: {"schema": _STRING, "description": "Only when some, results "
                              "only: the modules whose totals were not updated (last "
                              "aggregation failed) or are being updated."},
              WARNING: {"schema": _STRING, "description": "Only when not up to date: one "
                        "ASCII line, e.g. `1 type of 2025 is not up to date: it "
                        "(needs_recalculation)`; the reasons are in "
                        "`GET /v1/sync/recalculation-status`."}}},
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
        checked = precheck_export(year, None, unit, allow_stale)
        return stream_csv("results.csv", checked, lambda s: exports.results_csv(s, year, unit))
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
        checked = precheck_export(year, det, None, allow_stale)
        return stream_csv(exports.data_filename(det), checked,
                          lambda s: exports.data_csv(s, det, year))
    return limited(who.name, get_settings().export_concurrency, make)
