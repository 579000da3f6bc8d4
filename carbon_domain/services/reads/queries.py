"""Read models for operators: jobs, reports and module stats as frozen dataclasses
(pipelines: ``pipeline_reads``); the edges turn them into JSON with ``dataclasses.asdict``.

The API, the CLI and a Python shell all read through these. Each function is a handful of
short indexed queries on the session it is given; none writes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, object_session

from carbon_domain.catalog import ModuleType
from carbon_domain.db.enums import IngestionMethod, JobResult, JobState, JobType, TargetType
from carbon_domain.db.models import CarbonReport, CarbonReportModule, Unit, UploadedFile
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.json_types import JsonObject
from carbon_domain.services.jobs.job_links import api_meta, module_jobs
from carbon_domain.services.reads import pipeline_console as pc
from carbon_domain.stats import RollupNode, module_rollup_tree, with_computed_at


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class JobChildView:
    """A per-type recalculation job of a module-level recalculation."""

    id: int
    data_entry_type_id: int | None
    state: JobState
    result: JobResult | None
    status_message: str | None
    progress: Progress
    recalculation: JsonObject | None  # meta.recalculation: its counts once finished


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as every surface shows it (the API's ``JobOut``; field order is the JSON's)."""

    id: int
    pipeline_id: uuid.UUID | None
    job_type: JobType
    module_type_id: int | None
    data_entry_type_id: int | None
    year: int | None
    target_type: TargetType
    ingestion_method: IngestionMethod
    state: JobState
    result: JobResult | None
    status_message: str | None
    is_current: bool
    attempts: int
    max_attempts: int
    celery_task_id: str | None
    upload_id: int | None
    created_by: str | None
    created_at: datetime | None
    dispatched_at: datetime | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    progress: Progress
    meta: JsonObject  # api_meta plus ``progress`` (the same as ``progress``)
    stuck: bool
    children: list[JobChildView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ChunkCount:
    total: int
    done: int


@dataclass(frozen=True, slots=True)
class DetailJobView(JobView):
    """A job of a pipeline's detail: its chunk counts (recalculations) and, for an
    aggregation, the recalculations it coalesced."""

    chunks: ChunkCount | None = None
    coalesced_recalculations: int | None = None
    coalesced_recalculation_job_ids: list[int] | None = None


def _progress(job: Job) -> Progress:
    return Progress(int(job.progress_done or 0), int(job.progress_total or 0))


def _recalculation(meta: JsonObject | None) -> JsonObject | None:
    value = (meta or {}).get("recalculation")
    return value if isinstance(value, dict) or value is None else None


def job_view(job: Job, children: list[Job] | None = None) -> JobView:
    """A job with its live progress (``progress`` and ``meta.progress``); a module-level
    recalculation also lists its per-type jobs and sums their progress."""
    kids = children or []
    progress = _progress(job)
    if kids:
        progress = Progress(sum(_progress(c).done for c in kids),
                            sum(_progress(c).total for c in kids))
    session = object_session(job)
    links = (module_jobs(session, [job.id])[job.id]
             if session and job.job_type == JobType.module_emission_recalc else None)
    return JobView(
        id=job.id, pipeline_id=job.pipeline_id, job_type=job.job_type,
        module_type_id=job.module_type_id, data_entry_type_id=job.data_entry_type_id,
        year=job.year, target_type=job.target_type, ingestion_method=job.ingestion_method,
        state=job.state, result=job.result, status_message=job.status_message,
        is_current=job.is_current, attempts=job.attempts, max_attempts=job.max_attempts,
        celery_task_id=job.celery_task_id, upload_id=job.upload_id,
        created_by=job.created_by, created_at=job.created_at,
        dispatched_at=job.dispatched_at, started_at=job.started_at,
        heartbeat_at=job.heartbeat_at, finished_at=job.finished_at, progress=progress,
        meta={**api_meta(job, links),
              "progress": {"done": progress.done, "total": progress.total}},
        stuck=pc.is_stuck(job),
        children=[JobChildView(
            id=c.id, data_entry_type_id=c.data_entry_type_id, state=c.state, result=c.result,
            status_message=c.status_message, progress=_progress(c),
            recalculation=_recalculation(c.meta)) for c in kids])


def get_job(session: Session, job_id: int) -> JobView | None:
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
    return job_view(job, children if job.job_type == JobType.module_emission_recalc else None)


def list_jobs(session: Session, *, pipeline_id: uuid.UUID | None = None,
              state: str | None = None, limit: int = 20) -> list[JobView]:
    """The most recent jobs (newest first), optionally of one pipeline or in one state."""
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if pipeline_id is not None:
        q = q.where(Job.pipeline_id == pipeline_id)
    if state is not None:
        q = q.where(Job.state == state)
    return [job_view(j) for j in session.scalars(q)]


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


@dataclass(frozen=True, slots=True)
class ReportModuleView:
    module_type_id: int
    module_name: str
    status: int
    stats: JsonObject | None
    last_updated: datetime | None


@dataclass(frozen=True, slots=True)
class UnitView:
    id: int
    institutional_code: str
    institutional_id: str | None
    name: str
    level: int
    parent_institutional_code: str | None


@dataclass(frozen=True, slots=True)
class ReportView:
    """A carbon report with its stats and its modules' stats (the API's ``ReportOut``)."""

    id: int
    year: int
    stats: JsonObject | None
    last_updated: datetime | None
    unit: UnitView
    modules: list[ReportModuleView]


@dataclass(frozen=True, slots=True)
class ModuleStatsView:
    """A report module's stats and the rollup tree of its emission roots."""

    report_id: int
    year: int
    unit_code: str
    module_type_id: int
    module_name: str
    stats: JsonObject | None
    last_updated: datetime | None
    tree: list[RollupNode]


def _module_view(m: CarbonReportModule) -> ReportModuleView:
    return ReportModuleView(m.module_type_id, _module_name(m.module_type_id), m.status,
                            with_computed_at(m.stats, m.stats_computed_at), m.last_updated)


def _module_name(module_type_id: int) -> str:
    try:
        return ModuleType(module_type_id).name
    except ValueError:
        return str(module_type_id)


def list_reports(session: Session, *, year: int, unit_code: str | None = None,
                 limit: int = 100, offset: int = 0
                 ) -> tuple[list[ReportView], int] | None:
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
    modules: dict[int, list[ReportModuleView]] = {}
    if rows:
        for m in session.scalars(select(CarbonReportModule).where(
                CarbonReportModule.carbon_report_id.in_([r.id for r, _ in rows]))
                .order_by(CarbonReportModule.module_type_id)):
            modules.setdefault(m.carbon_report_id, []).append(_module_view(m))
    items = [ReportView(id=r.id, year=r.year, stats=with_computed_at(r.stats, r.stats_computed_at),
                        last_updated=r.last_updated,
                        unit=UnitView(u.id, u.institutional_code, u.institutional_id, u.name,
                                      u.level, u.parent_institutional_code),
                        modules=modules.get(r.id, [])) for r, u in rows]
    return items, total


def get_module_stats(session: Session, report_id: int, module_type_id: int
                     ) -> ModuleStatsView | None:
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
    stats = with_computed_at(m.stats or None, m.stats_computed_at)
    by_type = (stats or {}).get("by_emission_type") or {}
    return ModuleStatsView(
        report_id=report_id, year=year, unit_code=code, module_type_id=m.module_type_id,
        module_name=_module_name(m.module_type_id), stats=stats, last_updated=m.last_updated,
        tree=module_rollup_tree(m.module_type_id, by_type))


def report_units(session: Session, year: int) -> list[tuple[str, str]]:
    """(institutional code, name) of the units with a report for ``year``, by code: the
    report page's unit picker."""
    return [(str(c), str(n)) for c, n in session.execute(
        select(Unit.institutional_code, Unit.name)
        .join(CarbonReport, CarbonReport.unit_id == Unit.id)
        .where(CarbonReport.year == year).order_by(Unit.institutional_code))]
