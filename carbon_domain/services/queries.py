"""Read models for operators: jobs, pipelines, reports and module stats as plain dicts.

The API, the CLI and a Python shell all read through these. Each function is a handful of
short indexed queries on the session it is given; none writes.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, defer, object_session

from carbon_domain.catalog import ModuleType
from carbon_domain.db.enums import JobState, JobType, PipelineStatus
from carbon_domain.db.models import CarbonReport, CarbonReportModule, Pipeline, Unit
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.services import pipeline_console as pc
from carbon_domain.services.job_links import api_meta, module_jobs
from carbon_domain.services.pipelines import pipeline_jobs
from carbon_domain.stats import module_rollup_tree

_JOB_FIELDS = ("id", "pipeline_id", "job_type", "module_type_id", "data_entry_type_id", "year",
               "target_type", "ingestion_method", "state", "result", "status_message",
               "is_current", "attempts", "max_attempts", "celery_task_id", "upload_id",
               "created_by", "created_at", "dispatched_at", "started_at", "heartbeat_at",
               "finished_at")


def _progress(job: Job) -> dict[str, int]:
    return {"done": int(job.progress_done or 0), "total": int(job.progress_total or 0)}


def job_dict(job: Job, children: list[Job] | None = None) -> dict[str, Any]:
    """A job with its live progress (``progress`` and ``meta.progress``); a module-level
    recalculation also lists its per-type jobs and sums their progress."""
    out = {f: getattr(job, f) for f in _JOB_FIELDS}
    kids = children or []
    progress = _progress(job)
    if kids:
        progress = {"done": sum(_progress(c)["done"] for c in kids),
                    "total": sum(_progress(c)["total"] for c in kids)}
    out["progress"] = progress
    session = object_session(job)
    links = (module_jobs(session, [job.id])[job.id]
             if session and job.job_type == JobType.module_emission_recalc else None)
    out["meta"] = {**api_meta(job, links), "progress": progress}
    out["stuck"] = pc.is_stuck(job)
    out["children"] = [{
        "id": c.id, "data_entry_type_id": c.data_entry_type_id, "state": c.state,
        "result": c.result, "status_message": c.status_message, "progress": _progress(c),
        "recalculation": (c.meta or {}).get("recalculation"),
    } for c in kids]
    return out


def get_job(session: Session, job_id: int) -> dict[str, Any] | None:
    """One job, in one query (a module-level job comes with its per-type jobs)."""
    root_type = select(Job.job_type).where(Job.id == job_id).scalar_subquery()
    root_pipeline = select(Job.pipeline_id).where(Job.id == job_id).scalar_subquery()
    rows = list(session.scalars(select(Job).where(or_(
        Job.id == job_id,
        and_(root_type == JobType.module_emission_recalc, Job.pipeline_id == root_pipeline,
             Job.job_type == JobType.emission_recalc),
    )).order_by(Job.id).execution_options(populate_existing=True)))
    job = next((j for j in rows if j.id == job_id), None)
    if job is None:
        return None
    wanted = set(module_jobs(session, [job_id])[job_id].started)
    children = [j for j in rows if j.id != job_id and (not wanted or j.id in wanted)]
    return job_dict(job, children if job.job_type == JobType.module_emission_recalc else None)


def _pipeline_dict(p: Pipeline, progress: dict[str, Any], jobs: list[Job],
                   chunks: dict[int, pc.ChunkCounts], *, live: bool) -> dict[str, Any]:
    # live: a running pipeline's duration is the time so far (the listing). The detail is
    # also streamed over SSE, which sends a snapshot whenever it changes: there a running
    # pipeline's duration stays null so the stream only speaks on real changes.
    return {"pipeline_id": p.id, "kind": p.kind, "status": p.status,
            "module_type_id": p.module_type_id, "year": p.year, "created_by": p.created_by,
            "job_count": p.job_count, "error_count": p.error_count, "last_error": p.last_error,
            "created_at": p.created_at, "started_at": p.started_at,
            "finished_at": p.finished_at, "progress": progress,
            "phases": [asdict(ph) for ph in pc.phases(jobs, chunks)],
            "duration_seconds": pc.duration_seconds(p) if live or p.finished_at else None,
            "message": pc.message(p, jobs)}


def _pipeline_progress(status: str, jobs: list[Job]) -> dict[str, Any]:
    return {"jobs_finished": sum(j.state == JobState.FINISHED for j in jobs),
            "jobs_total": len(jobs),
            "done": sum(_progress(j)["done"] for j in jobs),
            "total": sum(_progress(j)["total"] for j in jobs),
            "finished": status != PipelineStatus.RUNNING}


def get_pipeline(session: Session, pipeline_id: uuid.UUID) -> dict[str, Any] | None:
    """A pipeline with its jobs (own and joined), progress, phases and timeline; each job
    says whether it is stuck and an aggregation how many recalculations it coalesced."""
    p = session.get(Pipeline, pipeline_id, populate_existing=True)
    if p is None:
        return None
    jobs = pipeline_jobs(session, pipeline_id)
    chunks = pc.chunk_counts(session, [j.id for j in jobs if j.job_type in pc.RECALC])
    out = _pipeline_dict(p, _pipeline_progress(p.status, jobs), jobs, chunks, live=False)
    out["jobs"] = []
    for j in jobs:
        d = job_dict(j)
        c = chunks.get(j.id)
        d["chunks"] = {"total": c.total, "done": c.done} if c else None
        if j.job_type == JobType.aggregation:
            co = pc.coalesced_recalculations(session, j)
            d["coalesced_recalculations"] = co.count
            d["coalesced_recalculation_job_ids"] = co.job_ids
        out["jobs"].append(d)
    out["timeline"] = [asdict(e) for e in pc.timeline(p, jobs)]
    return out


@dataclass(slots=True)
class PipelinePageData:
    items: list[dict[str, Any]]
    total: int
    counts_by_status: dict[str, int]


def pipeline_page(session: Session, filters: pc.PipelineFilters, *, limit: int = 50,
                  offset: int = 0) -> PipelinePageData:
    """Newest first: a page of pipelines with their phases, the filtered total and the
    counts by status of the whole filtered result."""
    conds = filters.conditions()
    counts = pc.counts_by_status(session, filters)
    total = sum(counts.values())
    page = list(session.scalars(select(Pipeline).where(*conds)
                                .order_by(Pipeline.created_at.desc(), Pipeline.id)
                                .limit(limit).offset(offset)))
    own: dict[Any, list[Job]] = {}
    if page:
        for j in session.scalars(select(Job).options(defer(Job.meta))
                                 .where(Job.pipeline_id.in_([p.id for p in page]))
                                 .order_by(Job.id)):
            own.setdefault(j.pipeline_id, []).append(j)
    linked = pc.linked_jobs(session, page)
    every = {pid: own.get(pid, []) + linked.get(pid, []) for pid in [p.id for p in page]}
    chunks = pc.chunk_counts(session, [j.id for js in every.values() for j in js
                                       if j.job_type in pc.RECALC])
    items = []
    for p in page:
        mine = own.get(p.id, [])
        progress = {"jobs_finished": sum(j.state == JobState.FINISHED for j in mine),
                    "jobs_total": len(mine), "done": sum(_progress(j)["done"] for j in mine),
                    "total": sum(_progress(j)["total"] for j in mine),
                    "finished": p.status != PipelineStatus.RUNNING}
        items.append(_pipeline_dict(p, progress, every[p.id], chunks, live=True))
    return PipelinePageData(items, total, counts)


def list_pipelines(session: Session, *, status: str | None = None,
                   module_type_id: int | None = None, year: int | None = None,
                   kind: str | None = None, limit: int = 50, offset: int = 0,
                   **more: Any) -> tuple[list[dict[str, Any]], int]:
    """Newest first, with the counts of their own jobs; (items, total). ``more``: the
    other PipelineFilters fields (has_errors, created_after, created_before, created_by)."""
    page = pipeline_page(session, pc.PipelineFilters(
        status=status, kind=kind, module_type_id=module_type_id, year=year, **more),
        limit=limit, offset=offset)
    return page.items, page.total


def _module_dict(m: CarbonReportModule) -> dict[str, Any]:
    return {"module_type_id": m.module_type_id, "module_name": _module_name(m.module_type_id),
            "status": m.status, "stats": m.stats, "last_updated": m.last_updated}


def _module_name(module_type_id: int) -> str:
    try:
        return ModuleType(module_type_id).name
    except ValueError:
        return str(module_type_id)


def list_reports(session: Session, *, year: int, unit_code: str | None = None,
                 limit: int = 100, offset: int = 0
                 ) -> tuple[list[dict[str, Any]], int] | None:
    """Reports of a year (optionally of one unit, by institutional code) with their stats
    and their modules' stats; None when ``unit_code`` names no unit."""
    conds = [CarbonReport.year == year]
    if unit_code is not None:
        unit_id = session.scalar(select(Unit.id).where(Unit.institutional_code == unit_code))
        if unit_id is None:
            return None
        conds.append(CarbonReport.unit_id == unit_id)
    total = int(session.scalar(select(func.count()).select_from(CarbonReport).where(*conds))
                or 0)
    rows = session.execute(select(CarbonReport, Unit).join(Unit, Unit.id == CarbonReport.unit_id)
                           .where(*conds).order_by(Unit.institutional_code, CarbonReport.id)
                           .limit(limit).offset(offset)).all()
    modules: dict[int, list[dict[str, Any]]] = {}
    if rows:
        for m in session.scalars(select(CarbonReportModule).where(
                CarbonReportModule.carbon_report_id.in_([r.id for r, _ in rows]))
                .order_by(CarbonReportModule.module_type_id)):
            modules.setdefault(m.carbon_report_id, []).append(_module_dict(m))
    items = [{"id": r.id, "year": r.year, "stats": r.stats, "last_updated": r.last_updated,
              "unit": {"id": u.id, "institutional_code": u.institutional_code,
                       "institutional_id": u.institutional_id, "name": u.name,
                       "level": u.level, "parent_institutional_code": u.parent_institutional_code},
              "modules": modules.get(r.id, [])} for r, u in rows]
    return items, total


def get_module_stats(session: Session, report_id: int, module_type_id: int
                     ) -> dict[str, Any] | None:
    """A report module's stats plus the rollup tree of its emission roots; None if the
    report has no such module."""
    row = session.execute(
        select(CarbonReportModule, CarbonReport.year, Unit.institutional_code)
        .join(CarbonReport, CarbonReport.id == CarbonReportModule.carbon_report_id)
        .join(Unit, Unit.id == CarbonReport.unit_id)
        .where(CarbonReport.id == report_id, CarbonReportModule.module_type_id == module_type_id)
    ).first()
    if row is None:
        return None
    m, year, code = row
    stats = m.stats or None
    by_type = (stats or {}).get("by_emission_type") or {}
    return {"report_id": report_id, "year": year, "unit_code": code,
            "module_type_id": m.module_type_id, "module_name": _module_name(m.module_type_id),
            "stats": stats, "last_updated": m.last_updated,
            "tree": module_rollup_tree(m.module_type_id, by_type)}
