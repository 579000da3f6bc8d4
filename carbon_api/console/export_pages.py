"""CSV downloads from the console: the same streamed exports as ``/v1/exports`` (same
generators, same 404/409 checks, same ``X-Carbon-Last-Recalculation-Job`` header), with the
session cookie instead of a bearer token. A refusal (unknown year or unit, a recalculation
still running) is shown as a page with the API's sentence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from carbon_api.console.web import PREFIX, User, render
from carbon_api.csv_downloads import precheck_export, stream_csv
from carbon_api.deps import Year
from carbon_api.routes.reports import UnitCode
from carbon_domain.catalog import DataEntryType
from carbon_domain.services.exports import exports

router = APIRouter(prefix=PREFIX + "/exports", include_in_schema=False)


def _refused(request: Request, exc: HTTPException, year: int) -> Response:
    return render(request, "export_refused.html", status_code=exc.status_code,
                  text=str(exc.detail), year=year)


@router.get("/results.csv", name="console_results_csv")
def results_csv(request: Request, user: User, year: Year, unit: UnitCode = None) -> Response:
    try:
        job = precheck_export(year, None, unit, False)
    except HTTPException as exc:
        return _refused(request, exc, year)
    return stream_csv("results.csv", job, lambda s: exports.results_csv(s, year, unit))


@router.get("/data/{det}.csv", name="console_data_csv")
def data_csv(request: Request, user: User, det: Annotated[DataEntryType, Path()],
             year: Year) -> Response:
    try:
        job = precheck_export(year, det.value, None, False)
    except HTTPException as exc:
        return _refused(request, exc, year)
    return stream_csv(exports.data_filename(det.value), job,
                   lambda s: exports.data_csv(s, det.value, year))
