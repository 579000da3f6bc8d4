"""Jobs and pipelines: detail, list, live SSE streams, abort and recover."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from carbon_api import sse
from carbon_api.accepting import accept_operation
from carbon_api.deps import JobId, ModuleQuery, Operator, OptionalYear, PipelineId, Viewer
from carbon_api.errors import R404, R409, READ, WRITE, Responses
from carbon_api.logging import bind
from carbon_api.schemas import AbortResult, Accepted, JobOut, PipelineDetail, PipelinePage
from carbon_domain.db.enums import JobState, JobType, PipelineStatus
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads import pipeline_reads, queries
from carbon_domain.services.reads.pipeline_console import QUEUED, PipelineFilters
from carbon_tasks import operations as ops

router = APIRouter(prefix="/sync", tags=["jobs and pipelines"])


class StatusFilter(StrEnum):
    """A stored pipeline status, or QUEUED: RUNNING with no job of it started yet (the
    display status pipeline_console.display_status gives it)."""

    NOT_STARTED = PipelineStatus.NOT_STARTED.value
    QUEUED = QUEUED
    RUNNING = PipelineStatus.RUNNING.value
    SUCCESS = PipelineStatus.SUCCESS.value
    PARTIAL = PipelineStatus.PARTIAL.value
    FAILED = PipelineStatus.FAILED.value
    ABORTED = PipelineStatus.ABORTED.value

_JOB_404: Responses = {404: {**R404, "content": {"application/json": {"example": {
    "detail": "job 42 not found"}}}}}
_PIPELINE_404: Responses = {404: {**R404, "content": {"application/json": {"example": {
    "detail": "pipeline 0b8a6f2e-3c1d-4e5f-9a7b-2c4d6e8f0a1b not found"}}}}}


def _job_json(session: Session, job_id: int) -> dict[str, Any] | None:
    """The job as the route and its stream both send it."""
    job = queries.get_job(session, job_id)
    return None if job is None else asdict(job)


def _job(job_id: int) -> dict[str, Any]:
    bind(job_id=job_id)
    with session_scope() as s:
        job = _job_json(s, job_id)
    if job is None:
        raise HTTPException(404, f"job {job_id} not found")
    return job


def _detail(session: Session, pipeline_id: Any) -> dict[str, Any] | None:
    """The detail as the route and its stream both send it (the response model's shape)."""
    d = pipeline_reads.detail(session, pipeline_id)
    return None if d is None else PipelineDetail.model_validate(asdict(d)).model_dump()


def _pipeline(pipeline_id: Any) -> dict[str, Any]:
    bind(pipeline_id=str(pipeline_id))
    with session_scope() as s:
        p = _detail(s, pipeline_id)
    if p is None:
        raise HTTPException(404, f"pipeline {pipeline_id} not found")
    return p


@router.get("/jobs/{job_id}", response_model=JobOut, responses={**READ, **_JOB_404})
def get_job(_: Viewer, job_id: JobId) -> dict[str, Any]:
    """One job: state, result, message, progress (`progress` and `meta.progress`), row
    errors (`meta.row_errors`) and, for a module-level recalculation, its per-type jobs."""
    return _job(job_id)


@router.get("/jobs/{job_id}/stream", response_class=EventSourceResponse,
            responses={**READ, **_JOB_404, **sse.stream_doc("job-update", "job")})
async def stream_job(_: Viewer, job_id: JobId, request: Request) -> EventSourceResponse:
    """Server-sent events: the job's snapshot on every change, until it is FINISHED."""
    first = await run_in_threadpool(_job, job_id)
    return sse.stream(request, sse.read_snapshot(_job_json, job_id), first, "job-update",
                      lambda j: j["state"] == JobState.FINISHED)


@router.get("/pipelines", response_model=PipelinePage, responses=READ)
def list_pipelines(
    _: Viewer,
    status: Annotated[StatusFilter | None, Query(
        description="Pipeline status; QUEUED: RUNNING and no job of it has started yet (no "
                    "worker took it).")] = None,
    module_type_id: ModuleQuery = None,
    year: OptionalYear = None,
    kind: Annotated[JobType | None, Query(description="What started it (the first job's "
                                                      "type).")] = None,
    has_errors: Annotated[bool | None, Query(
        description="true: a job of its own finished as ERROR; false: none did.")] = None,
    has_warnings: Annotated[bool | None, Query(
        description="true: a job of its own finished as WARNING (a SUCCESS of these is "
                    "SUCCESS_WITH_WARNINGS); false: none did.")] = None,
    queued: Annotated[bool | None, Query(
        description="true: RUNNING and no job of it has started yet (display_status "
                    "QUEUED); false: any other.")] = None,
    created_after: Annotated[datetime | None, Query(
        description="Created at or after (ISO 8601; without an offset: UTC).")] = None,
    created_before: Annotated[datetime | None, Query(
        description="Created before (ISO 8601; without an offset: UTC).")] = None,
    created_by: Annotated[str | None, Query(min_length=1, max_length=128,
                                            description="Exact author name.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    """Pipelines, newest first, filtered and paged: `{items, total, limit, offset,
    counts_by_status, counts_by_display_status}`; each item with its phases, duration,
    message and `display_status`. The counts cover the whole filtered result, not just the
    page."""
    after, before = _utc(created_after), _utc(created_before)
    if after is not None and before is not None and after > before:
        raise RequestValidationError([{
            "type": "value_error", "loc": ("query", "created_after"),
            "input": after.isoformat(),
            "msg": f"created_after ({after.isoformat()}) is later than created_before "
                   f"({before.isoformat()})"}])
    filters = PipelineFilters(
        status=status.value if status else None, kind=kind,
        module_type_id=module_type_id.value if module_type_id else None, year=year,
        has_errors=has_errors, has_warnings=has_warnings, queued=queued,
        created_after=after, created_before=before, created_by=created_by)
    with session_scope() as s:
        page = pipeline_reads.listing(s, filters, limit=limit, offset=offset)
    return {"items": [asdict(v) for v in page.items], "total": page.total, "limit": limit,
            "offset": offset, "counts_by_status": page.counts_by_status,
            "counts_by_display_status": page.counts_by_display_status}


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


@router.get("/pipelines/{pipeline_id}", response_model=PipelineDetail,
            responses={**READ, **_PIPELINE_404})
def get_pipeline(_: Viewer, pipeline_id: PipelineId) -> dict[str, Any]:
    """A pipeline with its jobs (including the active jobs of other pipelines it joined) and
    its progress."""
    return _pipeline(pipeline_id)


@router.get("/pipelines/{pipeline_id}/stream", response_class=EventSourceResponse,
            responses={**READ, **_PIPELINE_404, **sse.stream_doc("pipeline-update",
                                                                 "pipeline")})
async def stream_pipeline(_: Viewer, pipeline_id: PipelineId, request: Request
                          ) -> EventSourceResponse:
    """Server-sent events: the pipeline's snapshot (status, jobs, progress) on every change,
    until it reaches a terminal status."""
    first = await run_in_threadpool(_pipeline, pipeline_id)
    return sse.stream(request, sse.read_snapshot(_detail, pipeline_id), first,
                      "pipeline-update", lambda p: p["status"] != PipelineStatus.RUNNING)


@router.post("/pipelines/{pipeline_id}/abort", response_model=AbortResult,
             responses={**WRITE, **_PIPELINE_404, 409: R409})
def abort_pipeline(who: Operator, pipeline_id: PipelineId) -> dict[str, Any]:
    """Finish every active job of the pipeline as ERROR ("Aborted by …") and revoke its
    outstanding tasks. 409 when nothing is active. Lock conflicts with running chunks are
    waited out or retried server-side (never a 503)."""
    bind(pipeline_id=str(pipeline_id))
    with session_scope() as s:
        before = pipeline_reads.get(s, pipeline_id)
        status = before.status if before is not None else None
    if status is None:
        raise HTTPException(404, f"pipeline {pipeline_id} not found")
    # Deleted between the read and the abort: NotFound, answered 404 (carbon_api/errors.py).
    result = ops.abort_pipeline(str(pipeline_id), who.name)
    if not result["aborted_job_ids"] and status != PipelineStatus.RUNNING:
        raise HTTPException(409, f"pipeline {pipeline_id} has nothing active to abort "
                                 f"(status {status})")
    return result


_RECOVER_409: Responses = {409: {**R409, "content": {"application/json": {"example": {
    "detail": "pipeline 0b8a6f2e-3c1d-4e5f-9a7b-2c4d6e8f0a1b is still running: abort it or "
              "wait for it to finish, then recover what it left"}}}}}


@router.post("/pipelines/{pipeline_id}/recover", status_code=202, response_model=Accepted,
             responses={**WRITE, **_PIPELINE_404, **_RECOVER_409})
def recover_pipeline(who: Operator, pipeline_id: PipelineId) -> Accepted:
    """A new pipeline re-running the data entry types a FAILED, PARTIAL or ABORTED run left
    (its per-type recalculations that did not succeed; all of its types when a later step
    failed), whatever the staleness status says. 409 while the pipeline is still running
    or when its run left nothing to recalculate; 404 for an unknown pipeline."""
    bind(pipeline_id=str(pipeline_id))
    return accept_operation("recovery", lambda: ops.recover_pipeline(str(pipeline_id),
                                                                     who.name))
