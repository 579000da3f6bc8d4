"""Pipelines page (operations console): filtered table with counts by status, expandable
rows (jobs, row errors, timeline), confirmed actions (abort, recalculate what a failed run
left stale, download the uploaded CSV), and the workers panel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from kombu.exceptions import OperationalError as BrokerError
from starlette.concurrency import run_in_threadpool

from carbon_api.console import pipelines as pl
from carbon_api.console.actions import form_text, start_operation
from carbon_api.console.web import User, check_csrf, check_operator, message, render
from carbon_api.csv_downloads import content_disposition
from carbon_api.deps import YEAR_MAX, YEAR_MIN
from carbon_domain.catalog import ModuleType
from carbon_domain.db.enums import JobType, PipelineStatus
from carbon_domain.db.models import UploadedFile
from carbon_domain.db.session import session_scope
from carbon_domain.settings import get_settings
from carbon_tasks import operations as ops
from carbon_tasks.dispatch import BrokerUnavailable
from carbon_tasks.workers import live_workers

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE = 50


def _opt_int(v: str | None, lo: int, hi: int) -> int | None:
    if v is None or not v.strip():
        return None
    try:
        n = int(v)
    except ValueError:
        return None
    return n if lo <= n <= hi else None


def _opt_dt(v: str | None) -> datetime | None:
    if not v:
        return None
    try:
        return datetime.fromisoformat(v.strip()[:40])
    except ValueError:
        return None


def filters_from(q: dict[str, str]) -> pl.Filters:
    """Unknown or malformed filter values are ignored (shown as "any"), never an error."""
    status = q.get("status") if q.get("status") in PipelineStatus.__members__ else None
    kind = q.get("kind") if q.get("kind") in JobType.__members__ else None
    errs = {"yes": True, "no": False}.get(q.get("has_errors") or "")
    by = (q.get("created_by") or "").strip()[:128] or None
    return pl.Filters(status=status, kind=kind,
                      module_type_id=_opt_int(q.get("module"), 1, 8),
                      year=_opt_int(q.get("year"), YEAR_MIN, YEAR_MAX), has_errors=errs,
                      created_after=_opt_dt(q.get("created_after")),
                      created_before=_opt_dt(q.get("created_before")), created_by=by)


@router.get("/pipelines")
def pipelines_page(request: Request, user: User,
                   page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    q = {k: v[:100] for k, v in request.query_params.items()}
    f = filters_from(q)
    with session_scope() as s:
        rows, total, counts = pl.list_pipelines(s, f, PAGE, (page - 1) * PAGE)
    return render(request, "pipelines.html", rows=rows, total=total, counts=counts, f=f,
                  page=page, pages=max(1, -(-total // PAGE)), statuses=list(PipelineStatus),
                  kinds=list(JobType), modules=list(ModuleType), q=q,
                  status_text=pl.STATUS_TEXT, kind_text=pl.KIND_TEXT,
                  flower=f"http://{get_settings().flower_address}:{get_settings().flower_port}/",
                  stream_url="/console/events")


@router.get("/pipelines/{pipeline_id}")
def pipeline_detail(request: Request, user: User, pipeline_id: str) -> Response:
    with session_scope() as s:
        p = pl.get(s, pipeline_id)
        if p is None:
            return message(request, f"Pipeline {pipeline_id[:40]!r} not found", 404)
        d = pl.detail(s, p)
    return render(request, "_pipeline_detail.html", d=d)


@router.get("/pipelines/{pipeline_id}/upload")
def download_upload(request: Request, user: User, pipeline_id: str) -> Response:
    with session_scope() as s:
        p = pl.get(s, pipeline_id)
        upload_id = pl.summary(s, p)["upload_id"] if p else None
        f = s.get(UploadedFile, upload_id) if upload_id else None
        if f is None:
            return message(request, "This pipeline has no uploaded file", 404)
        content, name = f.content, f.filename
    return Response(content, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": content_disposition(name or "upload.csv", "upload.csv"),
        "X-Content-Type-Options": "nosniff"})


@router.post("/pipelines/{pipeline_id}/abort")
async def abort(request: Request, user: User, pipeline_id: str) -> Response:
    check_operator(user)
    form = await request.form(max_files=0, max_fields=5)
    check_csrf(request, user, form_text(form.get("csrf_token")))
    return await run_in_threadpool(_abort, request, user.name, pipeline_id)


def _abort(request: Request, by: str, pipeline_id: str) -> Response:
    with session_scope() as s:
        p = pl.get(s, pipeline_id)
        status = p.status if p else None
    if status is None:
        return message(request, f"Pipeline {pipeline_id[:40]!r} not found", 404)
    result = ops.abort_pipeline(pipeline_id, by)
    if not result["aborted_job_ids"] and status != PipelineStatus.RUNNING:
        return message(request, f"Nothing to abort: the pipeline is already {status}", 409)
    return message(request, f"Aborted {len(result['aborted_job_ids'])} active job(s); "
                            f"{result['revoked_tasks']} task(s) revoked.", 200, "ok")


@router.post("/pipelines/{pipeline_id}/recalculate-stale")
async def recalc_left_stale(request: Request, user: User, pipeline_id: str) -> Response:
    check_operator(user)
    form = await request.form(max_files=0, max_fields=5)
    check_csrf(request, user, form_text(form.get("csrf_token")))
    with session_scope() as s:
        p = pl.get(s, pipeline_id)
        module, year = (p.module_type_id, p.year) if p else (None, None)
    if module is None or year is None:
        return message(request, "This pipeline has no module and year to recalculate", 409)
    return await run_in_threadpool(
        start_operation, request, "module recalculation", lambda: ops.trigger_module_recalculation(
            module=module, year=year, only_stale=True, created_by=user.name), card="")


def _workers() -> tuple[list[dict[str, Any]], str | None]:
    try:
        return live_workers(timeout=1.0), None
    except (BrokerUnavailable, BrokerError, OSError) as exc:
        return [], f"The message broker is unreachable ({str(exc)[:200]})"


@router.get("/workers")
def workers_panel(request: Request, user: User) -> Response:
    workers, problem = _workers()
    versions = {w.get("version") for w in workers if w.get("version")}
    return render(request, "_workers.html", workers=workers, problem=problem,
                  mixed=len(versions) > 1, versions=sorted(versions))
