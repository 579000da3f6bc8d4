"""Data management page: modules and types of a year, upload cards, recalculation dialog and
per-type recalculation. Starting work goes through ``carbon_tasks.operations`` and the API's
own error mapping (``carbon_api.accepting.accept_operation``), so the console shows the very same
400/409/413/415/422/503 sentences as ``/v1``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from carbon_api.console import adapters
from carbon_api.console.actions import form_text, start_operation
from carbon_api.console.forms import read_form
from carbon_api.console.web import User, check_csrf, check_operator, message, render
from carbon_api.deps import YEAR_MAX, YEAR_MIN
from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, MODULE_OF, DataEntryType, ModuleType
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.year_data import latest_year_with_data, year_data
from carbon_domain.upload_kinds import (
    KIND_LABELS,
    MODULE_KINDS,
    REFERENCE_KINDS,
    UploadKind,
    UploadMode,
)
from carbon_tasks import operations as ops

router = APIRouter(prefix="/console", include_in_schema=False)
YearP = Annotated[int, Path(ge=YEAR_MIN, le=YEAR_MAX)]
ModuleP = Annotated[int, Path(ge=1, le=8)]
# The reference upload cards: kind → title.
REFERENCE_CARDS = {k.value: KIND_LABELS[k] for k in REFERENCE_KINDS}


def recalc_blocked(session: Session, year: int) -> str | None:
    """Why the year's Recalculate buttons are disabled (the same sentence the server answers
    with when asked anyway), or None."""
    reason = year_data(session, year).empty_reason
    return f"Nothing to recalculate for {year}: {reason}" if reason else None


def _overview(year: int) -> tuple[list[adapters.ModuleRow], bool, str | None, int]:
    with session_scope() as s:
        return (adapters.year_overview(s, year), adapters.has_reports(s, year),
                recalc_blocked(s, year), latest_year_with_data(s) or year)


def _module(year: int, module: int) -> tuple[adapters.ModuleRow, str | None]:
    with session_scope() as s:
        return adapters.module_overview(s, year, module), recalc_blocked(s, year)


@router.get("/data/{year}")
def data_page(request: Request, user: User, year: YearP) -> Response:
    modules, has_reports, blocked, landing = _overview(year)
    return render(request, "data.html", year=year, modules=modules, has_reports=has_reports,
                  recalc_blocked=blocked, landing=landing, reference_kinds=REFERENCE_CARDS,
                  stream_url=request.app.url_path_for("events") + f"?year={year}")


@router.get("/data/{year}/modules/{module}")
def module_fragment(request: Request, user: User, year: YearP, module: ModuleP,
                    open: bool = False) -> Response:
    m, blocked = _module(year, module)
    return render(request, "_module.html", year=year, m=m, open=open, recalc_blocked=blocked)


@router.post("/upload")
async def upload(request: Request, user: User) -> Response:
    check_operator(user)
    form = await read_form(request)
    if isinstance(form, Response):
        return form
    check_csrf(request, user, form.fields.get("csrf_token"))
    kind = form.fields.get("kind", "")
    if kind not in set(UploadKind):
        return message(request, f"Unknown upload kind {kind[:40]!r}", 422)
    try:
        year = int(form.fields["year"]) if form.fields.get("year") else None
        module = int(form.fields["module"]) if form.fields.get("module") else None
        det = int(form.fields["det"]) if form.fields.get("det") else None
    except ValueError:
        return message(request, "year, module and type must be whole numbers", 422)
    if kind in (*MODULE_KINDS, UploadKind.units) and (
            year is None or not YEAR_MIN <= year <= YEAR_MAX):
        return message(request, f"A year between {YEAR_MIN} and {YEAR_MAX} is required", 422)
    if kind in MODULE_KINDS:
        if module not in {m.value for m in ModuleType}:
            return message(request, "Choose a module", 422)
        if det is not None and (det not in {d.value for d in DataEntryType}
                                or MODULE_OF[DataEntryType(det)] != module):
            return message(request, f"Type {det} does not belong to module {module}", 422)
    else:
        module = det = None
    if kind not in (*MODULE_KINDS, UploadKind.units):
        year = None
    recalculate = form.fields.get("recalculate") == "on"
    allow_unknown = form.fields.get("allow_unknown_columns") == "on"
    mode = form.fields.get("mode") or UploadMode.REPLACE
    if mode not in set(UploadMode):
        return message(request, "The factor mode is “replace” or “merge”", 422)
    f = form.upload
    return await run_in_threadpool(
        start_operation, request, f"{kind} upload", lambda: ops.start_upload(
            kind, f.content, filename=f.filename, module=module, det=det, year=year,
            recalculate=recalculate, created_by=user.name, content_type=f.content_type,
            mode=mode, allow_unknown_columns=allow_unknown),
        card=form.fields.get("card", ""))


@router.get("/data/{year}/modules/{module}/recalculate")
def recalc_dialog(request: Request, user: User, year: YearP, module: ModuleP) -> Response:
    """A fresh status read each time the dialog opens, with the per-type preview."""
    with session_scope() as s:
        m = adapters.module_overview(s, year, module)
        preview = adapters.preview(s, year, module)
    return render(request, "_recalc_dialog.html", year=year, m=m, preview=preview)


@router.post("/data/{year}/modules/{module}/recalculate")
async def recalc_module(request: Request, user: User, year: YearP, module: ModuleP
                        ) -> Response:
    check_operator(user)
    form = await request.form(max_files=0, max_fields=40)
    check_csrf(request, user, form_text(form.get("csrf_token")))
    mode = form_text(form.get("mode")) or "stale"
    valid = {d.value for d in MODULE_DATA_ENTRY_TYPES[ModuleType(module)]}
    chosen: set[int] = set()
    for v in form.getlist("det"):
        try:
            chosen.add(int(form_text(v) or ""))
        except ValueError:
            return message(request, f"{form_text(v)[:20]!r} is not a data entry type id", 422)
    if chosen - valid:
        return message(request, f"Types {sorted(chosen - valid)} are not types of this module",
                       422)
    if mode == "all":
        kwargs: dict[str, Any] = {"only_stale": False}
    elif mode == "stale":
        kwargs = {"only_stale": True}
    elif mode == "selected":
        if not chosen:
            return message(request, "Choose at least one type to recalculate", 422)
        kwargs = {"dets": sorted(chosen)}
    else:
        return message(request, "Choose “only stale”, “all” or the checked types", 422)
    return await run_in_threadpool(
        start_operation, request, "module recalculation", lambda: ops.trigger_module_recalculation(
            module=module, year=year, created_by=user.name, **kwargs), card=f"module-{module}")


@router.post("/data/{year}/modules/{module}/types/{det}/recalculate")
async def recalc_type(request: Request, user: User, year: YearP, module: ModuleP,
                      det: Annotated[int, Path(ge=1, le=100)]) -> Response:
    check_operator(user)
    form = await request.form(max_files=0, max_fields=5)
    check_csrf(request, user, form_text(form.get("csrf_token")))
    if det not in {d.value for d in MODULE_DATA_ENTRY_TYPES[ModuleType(module)]}:
        return message(request, f"Type {det} does not belong to module {module}", 422)
    return await run_in_threadpool(
        start_operation, request, "recalculation", lambda: ops.trigger_recalculation(
            module=module, det=det, year=year, created_by=user.name), card=f"type-{det}")
