"""CSV downloads from the console: the same streamed exports as ``/v1/exports`` (same
generators, same 404/409 checks, same headers: ``X-Carbon-Last-Recalculation-Job``,
``X-Carbon-Up-To-Date`` and what is stale), with the session cookie instead of a bearer
token, and the same per-caller limit on concurrent full-year exports
(``carbon_api/export_limit.py``: the console user is its token's name, so console and API
downloads share the caller's slots). A refusal (unknown year or unit, a recalculation still
running, too many exports at once) is shown as a page with the API's sentence and status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response, StreamingResponse

from carbon_api.console.web import PREFIX, User, render
from carbon_api.csv_downloads import precheck_export, stream_csv
from carbon_api.deps import Year
from carbon_api.export_limit import limited
from carbon_api.routes.reports import UnitCode
from carbon_domain.catalog import DataEntryType
from carbon_domain.services.exports import exports
from carbon_domain.settings import get_settings

router = APIRouter(prefix=PREFIX + "/exports", include_in_schema=False)


def _refused(request: Request, exc: HTTPException, year: int) -> Response:
    page = render(request, "export_refused.html", status_code=exc.status_code,
                  text=str(exc.detail), year=year)
    page.headers.update(exc.headers or {})  # a 429's Retry-After
    return page


def _full_year(request: Request, user: User, year: int,
               make: Callable[[], StreamingResponse]) -> Response:
    try:
        return limited(user.name, get_settings().export_concurrency, make)
    except HTTPException as exc:
        return _refused(request, exc, year)


@router.get("/results.csv", name="console_results_csv")
def results_csv(request: Request, user: User, year: Year, unit: UnitCode = None) -> Response:
    def make() -> StreamingResponse:
        checked = precheck_export(year, None, unit, False)
        return stream_csv("results.csv", checked, lambda s: exports.results_csv(s, year, unit))
    if unit is not None:  # one unit's results are not a full-year export (as in the API)
        try:
            return make()
        except HTTPException as exc:
            return _refused(request, exc, year)
    return _full_year(request, user, year, make)


@router.get("/data/{det}.csv", name="console_data_csv")
def data_csv(request: Request, user: User, det: Annotated[DataEntryType, Path()],
             year: Year) -> Response:
    def make() -> StreamingResponse:
        checked = precheck_export(year, det.value, None, False)
        return stream_csv(exports.data_filename(det.value), checked,
                          lambda s: exports.data_csv(s, det.value, year))
    return _full_year(request, user, year, make)
