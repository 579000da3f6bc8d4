"""Data management page: modules and types of a year, upload cards, recalculation dialog and
per-type recalculation. Starting work goes through ``carbon_tasks.operations`` and the API's
own error mapping (``carbon_api.accepting.accept_operation``), so the console shows the very same
400/409/413/415/422/503 sentences as ``/v1``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from carbon_api.console import adapters
from carbon_api.console.actions import start_operation
from carbon_api.console.forms import (
    FORM_LIMITS,
    ChosenFile,
    ModuleRecalcForm,
    OperatorForm,
    RecalcMode,
    UploadFields,
    form_model,
)
from carbon_api.console.web import PREFIX, User, render
from carbon_api.deps import DetPath, ModulePath, YearPath
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.year_data import latest_year_with_data, year_data
from carbon_domain.upload_kinds import KIND_LABELS, REFERENCE_KINDS
from carbon_tasks import operations as ops

router = APIRouter(prefix=PREFIX, include_in_schema=False)
# The reference upload cards: kind → title.
REFERENCE_CARDS = {k.value: KIND_LABELS[k] for k in REFERENCE_KINDS}
UploadForm = Annotated[UploadFields, form_model(UploadFields)]


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
def data_page(request: Request, user: User, year: YearPath) -> Response:
    modules, has_reports, blocked, landing = _overview(year)
    return render(request, "data.html", year=year, modules=modules, has_reports=has_reports,
                  recalc_blocked=blocked, landing=landing, reference_kinds=REFERENCE_CARDS,
                  stream_url=request.app.url_path_for("events") + f"?year={year}")


@router.get("/data/{year}/modules/{module}")
def module_fragment(request: Request, user: User, year: YearPath, module: ModulePath,
                    open: bool = False) -> Response:
    m, blocked = _module(year, module)
    return render(request, "_module.html", year=year, m=m, open=open, recalc_blocked=blocked)


@router.post("/upload")
async def upload(request: Request, posted: OperatorForm, fields: UploadForm,
                 f: ChosenFile) -> Response:
    return await run_in_threadpool(
        start_operation, request, f"{fields.kind} upload", lambda: ops.start_upload(
            fields.kind, f.content, filename=f.filename, module=fields.module, det=fields.det,
            year=fields.year, recalculate=fields.recalculate, created_by=posted.user.name,
            content_type=f.content_type, mode=fields.mode,
            allow_unknown_columns=fields.allow_unknown_columns), card=fields.card)


@router.get("/data/{year}/modules/{module}/recalculate")
def recalc_dialog(request: Request, user: User, year: YearPath, module: ModulePath) -> Response:
    """A fresh status read each time the dialog opens, with the per-type preview."""
    with session_scope() as s:
        m = adapters.module_overview(s, year, module)
        preview = adapters.preview(s, year, module)
    return render(request, "_recalc_dialog.html", year=year, m=m, preview=preview)


@router.post("/data/{year}/modules/{module}/recalculate", form_limits=FORM_LIMITS)
async def recalc_module(request: Request, posted: OperatorForm, year: YearPath,
                        module: ModulePath, form: Annotated[ModuleRecalcForm, Form()]
                        ) -> Response:
    if form.mode == RecalcMode.selected:
        kwargs: dict[str, Any] = {"dets": [d.value for d in form.det]}
    else:
        kwargs = {"only_stale": form.mode == RecalcMode.stale}
    return await run_in_threadpool(
        start_operation, request, "module recalculation", lambda: ops.trigger_module_recalculation(
            module=module, year=year, created_by=posted.user.name, **kwargs),
        card=f"module-{module}")


@router.post("/data/{year}/modules/{module}/types/{det}/recalculate")
async def recalc_type(request: Request, posted: OperatorForm, year: YearPath,
                      module: ModulePath, det: DetPath) -> Response:
    return await run_in_threadpool(
        start_operation, request, "recalculation", lambda: ops.trigger_recalculation(
            module=module, det=det, year=year, created_by=posted.user.name), card=f"type-{det}")
