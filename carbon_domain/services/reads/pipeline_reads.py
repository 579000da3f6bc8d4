"""Pipeline reads: the one implementation behind ``/v1/sync/pipelines…``, the console's
pipelines page, its cards and its stream, ``carbon pipelines|wait|recover`` and
``carbon_tasks.waiting``. Typed results; the edges only format them.

Each definition exists once, here:

- a pipeline's jobs: its own plus the jobs of other pipelines it joined, with their reruns
  (:func:`pipelines.jobs_of_pipelines`);
- its progress: jobs finished of jobs known, and entries done / total summed over those jobs
  except a module-level root, whose counters mirror its per-type jobs (summing both counted
  every entry twice);
- counts by status: over the whole filtered result, every filter applied (status too), so
  "Failed: 2" next to a filter means two rows to page through;
- what a pipeline is shown as (``display_status``, :func:`pipeline_console.display_status`):
  its status, except that a SUCCESS with a job of its own that ended WARNING (rows skipped,
  a column ignored) is SUCCESS_WITH_WARNINGS, never a plain success, and a RUNNING one none
  of whose jobs has started is QUEUED; the same rules filter and count in SQL
  (``PipelineFilters.has_warnings`` / ``queued``, ``counts_by_display_status``);
- a page number past the last page shows the last page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.orm import Session, defer

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import (
    TERMINAL_PIPELINE,
    JobResult,
    JobState,
    JobType,
    PipelineStatus,
)
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Pipeline
from carbon_domain.services.jobs.ingest_report import RejectedRow
from carbon_domain.services.jobs.pipelines import as_pipeline_id, jobs_of_pipelines
from carbon_domain.services.reads import pipeline_console as pc
from carbon_domain.services.reads.pipeline_console import PipelineFilters
from carbon_domain.services.reads.pipeline_facts import (
    Silence,
    Waiting,
    recoverable_types,
    silence,
    waiting_for,
)
from carbon_domain.services.reads.queries import ChunkCount, DetailJobView, JobView, job_view

MAX_ROW_ERRORS = 200


@dataclass(frozen=True, slots=True)
class PipelineProgress:
    jobs_finished: int
    jobs_total: int
    done: int  # entries (rows) done over its jobs
    total: int
    finished: bool  # the pipeline reached a terminal status


@dataclass(frozen=True, slots=True)
class TypeProgress:
    """One per-type recalculation of the pipeline."""

    job_id: int
    data_entry_type_id: int | None
    state: str
    result: str | None
    done: int
    total: int
    status_message: str | None


@dataclass(slots=True)
class IngestFacts:
    """What the pipeline's upload (its first ingest job) reported."""

    job_id: int
    result: str | None
    status_message: str | None
    upload_id: int | None
    skipped: int
    row_errors: list[RejectedRow]


@dataclass(slots=True)
class PipelineView:
    """A pipeline as a row, a card or a stream event shows it."""

    pipeline_id: uuid.UUID
    kind: str
    status: str
    module_type_id: int | None
    year: int | None
    created_by: str | None
    job_count: int
    error_count: int
    warning_count: int  # jobs of its own that ended WARNING (rows skipped, columns ignored)
    display_status: str  # pc.display_status(status, warning_count, started=…): shown
    waiting_for: Waiting | None  # QUEUED: "broker" (still in the outbox) or "worker"
    last_error: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    progress: PipelineProgress
    phases: list[pc.Phase]
    duration_seconds: float | None
    message: str | None  # its error, else its first job's message
    current_message: str | None  # its first active job's message, else its last job's
    data_entry_type_id: int | None  # the first job's type (None: a whole module)
    types: list[TypeProgress]
    ingest: IngestFacts | None
    stuck: bool  # a job RUNNING without a heartbeat for too long
    silence: Silence | None  # RUNNING, and none of its jobs moved for minutes (pipeline_facts)
    can_abort: bool  # something is still active: the abort would stop it
    recoverable_types: list[int]  # what a failed, partial or aborted run left to re-run
    reverts_job_id: int | None  # its upload is the undo of that upload job

    @property
    def finished(self) -> bool:
        return self.progress.finished

    @property
    def can_recover(self) -> bool:
        return bool(self.recoverable_types)


@dataclass(slots=True)
class PipelineListing:
    items: list[PipelineView]
    total: int
    counts_by_status: dict[str, int]
    limit: int
    offset: int
    # The same result counted by what is shown: SUCCESS split into SUCCESS and
    # SUCCESS_WITH_WARNINGS, RUNNING into QUEUED and RUNNING (stored counts kept as they were).
    counts_by_display_status: dict[str, int]

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))


def progress_of(status: str, jobs: Sequence[Job]) -> PipelineProgress:
    counted = [j for j in jobs if j.job_type != JobType.module_emission_recalc]
    return PipelineProgress(
        jobs_finished=sum(j.state == JobState.FINISHED for j in jobs), jobs_total=len(jobs),
        done=sum(int(j.progress_done or 0) for j in counted),
        total=sum(int(j.progress_total or 0) for j in counted),
        finished=status in TERMINAL_PIPELINE)


def _ingest(jobs: Sequence[Job], metas: dict[int, dict[str, object]]) -> IngestFacts | None:
    first = next((j for j in jobs if j.job_type in pc.INGEST), None)
    if first is None:
        return None
    meta = metas.get(first.id) or {}
    raw = meta.get("row_errors")
    errors: list[RejectedRow] = [
        {"row": int(e.get("row") or 0), "reason": str(e.get("reason") or "")}
        for e in (raw if isinstance(raw, list) else [])[:MAX_ROW_ERRORS]
        if isinstance(e, dict)]
    skipped = meta.get("skipped")
    return IngestFacts(first.id, first.result, first.status_message, first.upload_id,
                       int(skipped) if isinstance(skipped, int | float | str) else 0, errors)


def _undoes(ingest: IngestFacts | None, metas: dict[int, dict[str, object]]) -> int | None:
    """The upload job the pipeline's upload undoes (its job's ``config.reverts_job_id``: a
    revert, started directly or by applying its preview), else None."""
    config = (metas.get(ingest.job_id) or {}).get("config") if ingest else None
    undoes = config.get("reverts_job_id") if isinstance(config, dict) else None
    return undoes if isinstance(undoes, int) else None


def _view(p: Pipeline, jobs: list[Job], chunks: dict[int, pc.ChunkCounts],
          metas: dict[int, dict[str, object]], *, live: bool) -> PipelineView:
    root = next((j for j in jobs if j.pipeline_id == p.id), None)
    active = [j for j in jobs if j.state != JobState.FINISHED]
    shown = active[0] if active else (jobs[-1] if jobs else None)
    # Done entries from the same read as the chunk chip (the job row was read earlier), so
    # "chunks 4/4" never stands beside "15369/20492".
    types = [TypeProgress(j.id, j.data_entry_type_id, j.state, j.result,
                          chunks[j.id].entries_done if j.id in chunks
                          else int(j.progress_done or 0), int(j.progress_total or 0),
                          j.status_message)
             for j in jobs if j.job_type == JobType.emission_recalc]
    warnings = sum(j.pipeline_id == p.id and j.state == JobState.FINISHED
                   and j.result == JobResult.WARNING for j in jobs)
    # live: a running pipeline's duration is the time so far. The API detail is also
    # streamed, sending a snapshot whenever it changes: there it stays None while running.
    ingest = _ingest(jobs, metas)
    return PipelineView(
        pipeline_id=p.id, kind=p.kind, status=p.status, module_type_id=p.module_type_id,
        year=p.year, created_by=p.created_by, job_count=p.job_count,
        error_count=p.error_count, warning_count=warnings,
        display_status=pc.display_status(p.status, warnings, started=any(
            j.started_at is not None for j in jobs)), last_error=p.last_error,
        waiting_for=waiting_for(p.status, jobs),
        created_at=p.created_at,
        started_at=p.started_at, finished_at=p.finished_at,
        progress=progress_of(p.status, jobs), phases=pc.phases(jobs, chunks),
        duration_seconds=pc.duration_seconds(p) if live or p.finished_at else None,
        message=pc.message(p, jobs),
        current_message=shown.status_message if shown is not None else None,
        data_entry_type_id=root.data_entry_type_id if root else None, types=types,
        ingest=ingest, stuck=any(pc.is_stuck(j) for j in jobs),
        silence=silence(p.status, jobs, utcnow()),
        can_abort=p.status == PipelineStatus.RUNNING,
        recoverable_types=recoverable_types(p, jobs),
        reverts_job_id=_undoes(ingest, metas))


def views(session: Session, pipes: Sequence[Pipeline], *, live: bool = True
          ) -> list[PipelineView]:
    """Views of many pipelines in a fixed number of queries, in the order given."""
    if not pipes:
        return []
    every = jobs_of_pipelines(session, [p.id for p in pipes], load=[defer(Job.meta)])
    chunks = pc.chunk_counts(session, [j.id for js in every.values() for j in js
                                       if j.job_type in pc.RECALC])
    ingest_ids = sorted({j.id for js in every.values() for j in js if j.job_type in pc.INGEST})
    metas: dict[int, dict[str, object]] = {}
    if ingest_ids:
        metas = {int(i): dict(m or {}) for i, m in session.execute(
            select(Job.id, Job.meta).where(Job.id.in_(ingest_ids)))}
    return [_view(p, every[p.id], chunks, metas, live=live) for p in pipes]


def _query(filters: PipelineFilters) -> Select[Pipeline]:
    return (select(Pipeline).where(*filters.conditions())
            .order_by(Pipeline.created_at.desc(), Pipeline.id)
            .execution_options(populate_existing=True))


def _counts(session: Session, filters: PipelineFilters) -> tuple[dict[str, int], dict[str, int]]:
    shown = pc.counts_by_display_status(session, filters)
    return pc.stored_counts(shown), shown


def listing(session: Session, filters: PipelineFilters, *, limit: int = 50,
            offset: int = 0) -> PipelineListing:
    """Newest first: a page of pipelines (from ``offset``; past the end: none), the
    filtered total and the counts by status (stored and displayed) of the whole filtered
    result."""
    counts, shown = _counts(session, filters)
    page = list(session.scalars(_query(filters).limit(limit).offset(offset)))
    return PipelineListing(views(session, page), sum(counts.values()), counts, limit, offset,
                           shown)


def listing_page(session: Session, filters: PipelineFilters, *, page: int,
                 per_page: int = 50) -> PipelineListing:
    """Page ``page`` (1-based) of the listing, clamped to the pages that exist."""
    counts, shown = _counts(session, filters)
    total = sum(counts.values())
    pages = max(1, -(-total // per_page))
    offset = (min(max(page, 1), pages) - 1) * per_page
    rows = list(session.scalars(_query(filters).limit(per_page).offset(offset)))
    return PipelineListing(views(session, rows), total, counts, per_page, offset, shown)


def get(session: Session, pipeline_id: uuid.UUID | str) -> Pipeline | None:
    try:
        pid = as_pipeline_id(pipeline_id)
    except ValueError:
        return None
    return session.get(Pipeline, pid, populate_existing=True)


def view(session: Session, pipeline_id: uuid.UUID | str, *, live: bool = True
         ) -> PipelineView | None:
    p = get(session, pipeline_id)
    return views(session, [p], live=live)[0] if p is not None else None


@dataclass(slots=True)
class PipelineDetailView(PipelineView):
    """A view plus every job (with its chunk counts and, for an aggregation, the
    recalculations it coalesced) and the timeline."""

    jobs: list[DetailJobView]
    timeline: list[pc.TimelineEvent]


def _detail_job(session: Session, j: Job, chunks: dict[int, pc.ChunkCounts]) -> DetailJobView:
    view = job_view(j)
    base = {f.name: getattr(view, f.name) for f in fields(JobView)}
    c = chunks.get(j.id)
    co = pc.coalesced_recalculations(session, j) if j.job_type == JobType.aggregation else None
    return DetailJobView(**base, chunks=ChunkCount(c.total, c.done) if c else None,
                         coalesced_recalculations=co.count if co else None,
                         coalesced_recalculation_job_ids=co.job_ids if co else None)


def detail(session: Session, pipeline_id: uuid.UUID | str, *, live: bool = False
           ) -> PipelineDetailView | None:
    p = get(session, pipeline_id)
    if p is None:
        return None
    jobs = jobs_of_pipelines(session, [p.id])[p.id]
    chunks = pc.chunk_counts(session, [j.id for j in jobs if j.job_type in pc.RECALC])
    metas = {j.id: dict(j.meta or {}) for j in jobs if j.job_type in pc.INGEST}
    base = _view(p, jobs, chunks, metas, live=live)
    rows = [_detail_job(session, j, chunks) for j in jobs]
    view_fields = {f: getattr(base, f) for f in PipelineView.__dataclass_fields__}
    return PipelineDetailView(**view_fields, jobs=rows, timeline=pc.timeline(p, jobs))


def live(session: Session, *, since: datetime, year: int | None = None,
         ids: Iterable[uuid.UUID] = (), limit: int = 50) -> list[PipelineView]:
    """What a console stream follows, newest first: pipelines RUNNING or finished since
    ``since`` — of ``year`` (and the yearless reference uploads) when given — plus the
    explicitly named ones in the same states."""
    active = or_(Pipeline.status == PipelineStatus.RUNNING, Pipeline.finished_at >= since)
    cond = active
    if year is not None:
        cond = active & or_(Pipeline.year == year, Pipeline.year.is_(None))
    wanted = list(ids)
    if wanted:
        cond = or_(cond, Pipeline.id.in_(wanted) & active)
    rows = list(session.scalars(select(Pipeline).where(cond)
                                .order_by(Pipeline.created_at.desc()).limit(limit)
                                .execution_options(populate_existing=True)))
    return views(session, rows)


def find_by_prefix(session: Session, prefix: str, *, limit: int = 2) -> list[uuid.UUID]:
    """Pipelines whose id starts with ``prefix`` (hex digits, hyphens ignored)."""
    # PostgreSQL renders a uuid with hyphens, SQLite stores 32 hex digits: compare without.
    hexid = func.replace(cast(Pipeline.id, String), "-", "")
    clean = prefix.strip().lower().replace("-", "")
    return list(session.scalars(select(Pipeline.id).where(hexid.like(f"{clean}%"))
                                .order_by(Pipeline.id).limit(limit)))
