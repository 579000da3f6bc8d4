"""Read models for operators: jobs, reports and module stats as plain dicts (pipelines:
``pipeline_reads``).

The API, the CLI and a Python shell all read through these. Each function is a handful of
short indexed queries on the session it is given; none writes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, object_session

from carbon_domain.catalog import ModuleType
from carbon_domain.db.enums import JobType
from carbon_domain.db.models import CarbonReport, CarbonReportModule, Unit, UploadedFile
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.services.jobs.job_links import api_meta, module_jobs
from carbon_domain.services.reads import pipeline_console as pc
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


def list_jobs(session: Session, *, pipeline_id: uuid.UUID | None = None,
              state: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent jobs (newest first), optionally of one pipeline or in one state."""
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if pipeline_id is not None:
        q = q.where(Job.pipeline_id == pipeline_id)
    if state is not None:
        q = q.where(Job.state == state)
    return [job_dict(j) for j in session.scalars(q)]


@dataclass(frozen=True, slots=True)
class StoredUpload:
    filename: str
    content: bytes


def pipeline_upload(session: Session, pipeline_id: uuid.UUID | str) -> StoredUpload | None:
    """The CSV a pipeline's upload stored (its first ingest job's file), if any."""
    try:
        pid = uuid.UUID(str(pipeline_id))
    except ValueError:
        return None
    row = session.execute(
        select(UploadedFile.filename, UploadedFile.content)
        .join(Job, Job.upload_id == UploadedFile.id)
        .where(Job.pipeline_id == pid).order_by(Job.id).limit(1)).first()
    return StoredUpload(row[0], bytes(row[1])) if row is not None else None


def year_provisioned(session: Session, year: int) -> bool:
    """Units were synced for ``year``: its carbon reports exist, so data can be loaded."""
    return session.scalar(select(CarbonReport.id).where(CarbonReport.year == year).limit(1)
                          ) is not None


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


def report_units(session: Session, year: int) -> list[tuple[str, str]]:
    """(institutional code, name) of the units with a report for ``year``, by code: the
    report page's unit picker."""
    return [(str(c), str(n)) for c, n in session.execute(
        select(Unit.institutional_code, Unit.name)
        .join(CarbonReport, CarbonReport.unit_id == Unit.id)
        .where(CarbonReport.year == year).order_by(Unit.institutional_code))]
