"""Streamed CSV exports: ``results.csv`` (from the stats) and ``<type>_data.csv`` (rows).

Every export answers with ``X-Carbon-Last-Recalculation-Job``: the id of the newest finished
recalculation of its scope (``none`` when there was none), so a file can be traced back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse

from carbon_api.deps import DetPath, Viewer, Year
from carbon_api.errors import R404, R409, READ, Responses
from carbon_api.routes.reports import UnitCode
from carbon_domain.db.session import session_scope
from carbon_domain.services import exports

router = APIRouter(prefix="/exports", tags=["exports"], responses=READ)
HEADER = "X-Carbon-Last-Recalculation-Job"
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


def _stream(name: str, job: int | None, produce: Callable[[Any], Iterator[str]]
            ) -> StreamingResponse:
    def body() -> Iterator[bytes]:
        with session_scope() as s:
            exports.snapshot(s)
            for chunk in produce(s):
                yield chunk.encode("utf-8")
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        HEADER: str(job) if job is not None else "none"})


def _precheck(year: int, det: int | None, unit: str | None, allow_stale: bool) -> int | None:
    with session_scope() as s:
        try:
            exports.check_year(s, year, unit)
            if not allow_stale:
                exports.ensure_not_running(s, year, det)
        except exports.ExportNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except exports.ExportBlocked as exc:
            raise HTTPException(409, str(exc)) from None
        return exports.last_recalculation_job_id(s, year, det)


@router.get("/results.csv", response_class=StreamingResponse, responses=CSV_OK)
def results_csv(_: Viewer, year: Year, unit: UnitCode = None,
                allow_stale: AllowStale = False) -> StreamingResponse:
    """One line per unit × module × stored emission type with the stats' kg (columns:
    unit_institutional_code, unit_name, module_type_id, module_name, emission_type_id,
    emission_type_path, scope, kg_co2eq, computed_at)."""
    job = _precheck(year, None, unit, allow_stale)
    return _stream("results.csv", job, lambda s: exports.results_csv(s, year, unit))


@router.get("/data/{data_entry_type_id}.csv", response_class=StreamingResponse,
            responses=CSV_OK)
def data_csv(_: Viewer, data_entry_type_id: DetPath, year: Year,
             allow_stale: AllowStale = False) -> StreamingResponse:
    """One line per emission row of the type and year, plus one per entry without a row
    (with the reason): unit, the entry's input columns, emission type, factor, kg."""
    det = data_entry_type_id.value
    job = _precheck(year, det, None, allow_stale)
    return _stream(exports.data_filename(det), job,
                   lambda s: exports.data_csv(s, det, year))
