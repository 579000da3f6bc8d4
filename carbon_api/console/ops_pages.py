"""Pipelines page (operations console): filtered table with counts by status, expandable
rows (jobs, row errors, timeline), confirmed actions (abort, recalculate what a failed or
aborted run left, download the uploaded CSV), and the workers panel. Rows and an opened
Details panel follow the page's one stream (console/stream.py, console.js)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from kombu.exceptions import OperationalError as BrokerError
from starlette.concurrency import run_in_threadpool

from carbon_api.console import pipelines as pl
from carbon_api.console.actions import start_operation
from carbon_api.console.forms import OperatorForm
from carbon_api.console.web import PREFIX, PageQuery, User, flower_link, message, render
from carbon_api.csv_downloads import content_disposition
from carbon_api.deps import YEAR_MAX, YEAR_MIN
from carbon_domain.catalog import ModuleType
from carbon_domain.db.enums import JobType, PipelineStatus
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads import pipeline_console as pc
from carbon_domain.services.reads import pipeline_reads as reads
from carbon_domain.services.reads.queries import pipeline_upload
from carbon_domain.services.upkeep.pipeline_recovery import CannotRecover, PipelineNotFound
from carbon_tasks import operations as ops
from carbon_tasks.dispatch import BrokerUnavailable
from carbon_tasks.workers import live_workers

router = APIRouter(prefix=PREFIX, include_in_schema=False)
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


# The console's own words (its filter form) and the API's, so a query string copied from one
# to the other filters the same (`has_errors=true`, `module_type_id=4` were ignored).
_YES_NO = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def filters_from(q: dict[str, str]) -> pl.Filters:
    """Unknown or malformed filter values are ignored (shown as "any"), never an error."""
    status = q.get("status") if q.get("status") in pl.FILTER_STATUSES else None
    kind = q.get("kind") if q.get("kind") in JobType.__members__ else None
    errs = _YES_NO.get((q.get("has_errors") or "").lower())
    warns = _YES_NO.get((q.get("has_warnings") or "").lower())
    queued = _YES_NO.get((q.get("queued") or "").lower())
    by = (q.get("created_by") or "").strip()[:128] or None
    module = q.get("module") or q.get("module_type_id")
    return pl.Filters(status=status, kind=kind,
                      module_type_id=_opt_int(module, min(ModuleType), max(ModuleType)),
                      year=_opt_int(q.get("year"), YEAR_MIN, YEAR_MAX), has_errors=errs,
                      has_warnings=warns, queued=queued,
                      created_after=_opt_dt(q.get("created_after")),
                      created_before=_opt_dt(q.get("created_before")), created_by=by)


def _pipeline_id(text: str | None) -> str | None:
    """A pipeline id as the rows carry it (lower case, hyphens), or None for no UUID."""
    try:
        return str(uuid.UUID(text)) if text else None
    except ValueError:
        return None


@router.get("/pipelines")
def pipelines_page(request: Request, user: User,
                   page: PageQuery = 1) -> Response:
    """The list; ``focus=<id>`` (a pipeline's link from a card, an entry's history, a
    Details URL opened as a page) opens that pipeline's Details: in its row when it is on
    the page, else above the list. An id that matches no pipeline says so."""
    q = {k: v[:100] for k, v in request.query_params.items()}
    f = filters_from(q)
    focus = (q.get("focus") or "").strip()
    focus_id, focused = _pipeline_id(focus), None
    with session_scope() as s:
        found = reads.listing_page(s, f, page=page, per_page=PAGE)
        rows = [pl.summary(v) for v in found.items]
        on_page = any(r["id"] == focus_id for r in rows)
        if focus_id is not None and not on_page:
            v = reads.view(s, focus_id)
            focused = pl.summary(v) if v is not None else None
    missing = focus if focus and not on_page and focused is None else None
    return render(request, "pipelines.html", rows=rows, focus_id=focus_id, focused=focused,
                  focus_missing=missing, no_filters=pl.Filters(),
                  total=found.total, counts=found.counts_by_display_status, f=f,
                  page=found.page, pages=found.pages, statuses=pl.FILTER_STATUSES,
                  shown_statuses=pc.DISPLAY_STATUSES,
                  kinds=list(JobType), modules=list(ModuleType), q=q,
                  status_text=pl.GROUP_TEXT, kind_text=pl.KIND_TEXT,
                  flower=flower_link(),
                  stream_url=request.app.url_path_for("events") + "?rows=1")


@router.get("/pipelines/counts")
def pipeline_counts(request: Request, user: User) -> Response:
    """The counts box alone, for the same filters (the page refreshes it live)."""
    q = {k: v[:100] for k, v in request.query_params.items()}
    f = filters_from(q)
    with session_scope() as s:
        counts = pc.counts_by_display_status(s, f)
    return render(request, "_pipeline_counts.html", counts=counts, total=sum(counts.values()),
                  f=f, q=q, shown_statuses=pc.DISPLAY_STATUSES,
                  status_text=pl.GROUP_TEXT)


@router.get("/pipelines/{pipeline_id}")
def pipeline_detail(request: Request, user: User, pipeline_id: str,
                    live: Annotated[bool, Query()] = False) -> Response:
    """The expanded row; ``live=1``: only its live part (what the stream refreshes)."""
    with session_scope() as s:
        d = reads.detail(s, pipeline_id, live=True)
    if d is None:
        return message(request, f"Pipeline {pipeline_id[:40]!r} not found", 404)
    return render(request, "_pipeline_detail.html", d=pl.detail(d), live_only=live)


@router.get("/pipelines/{pipeline_id}/upload")
def download_upload(request: Request, user: User, pipeline_id: str) -> Response:
    with session_scope() as s:
        f = pipeline_upload(s, pipeline_id)
        if f is None:
            return message(request, "This pipeline has no uploaded file", 404)
        content, name = f.content, f.filename
    return Response(content, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": content_disposition(name or "upload.csv", "upload.csv"),
        "X-Content-Type-Options": "nosniff"})


@router.post("/pipelines/{pipeline_id}/abort", name="console_abort")
async def abort(request: Request, posted: OperatorForm, pipeline_id: str) -> Response:
    return await run_in_threadpool(_abort, request, posted.user.name, pipeline_id)


def _abort(request: Request, by: str, pipeline_id: str) -> Response:
    with session_scope() as s:
        p = reads.get(s, pipeline_id)
        status = p.status if p else None
    if status is None:
        return message(request, f"Pipeline {pipeline_id[:40]!r} not found", 404)
    result = ops.abort_pipeline(pipeline_id, by)
    if not result["aborted_job_ids"] and status != PipelineStatus.RUNNING:
        return message(request, f"Nothing to abort: the pipeline is already {status}", 409)
    return message(request, f"Aborted {len(result['aborted_job_ids'])} active job(s); "
                            f"{result['revoked_tasks']} task(s) revoked.", 200, "ok")


@router.post("/pipelines/{pipeline_id}/recover", name="console_recover")
async def recover(request: Request, posted: OperatorForm, pipeline_id: str) -> Response:
    """"Recalculate what this run left": the API's recover, as a live card."""
    return await run_in_threadpool(_recover, request, posted.user.name, pipeline_id)


def _recover(request: Request, by: str, pipeline_id: str) -> Response:
    try:
        return start_operation(request, "recovery",
                               lambda: ops.recover_pipeline(pipeline_id, by), card="")
    except PipelineNotFound:
        return message(request, f"Pipeline {pipeline_id[:40]!r} not found", 404)
    except CannotRecover as exc:
        return message(request, str(exc), 409)


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
