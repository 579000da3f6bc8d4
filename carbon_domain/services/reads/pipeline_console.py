"""What the operations console shows of pipelines: filters, counts, phases, stuck jobs,
coalesced aggregations and a timeline. Pure reads; queries.py assembles the responses.

A pipeline's phases follow its jobs: *ingest* (factor, data entry, reference and unit
uploads), *recalculation* (per-type jobs and their chunks: "chunks 37/120 · 2 failed") and
*aggregation*. Everything here is derived from the rows (job timestamps, recalc_chunks), so
a page and the API always agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.orm import Session, aliased

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType, PipelineStatus
from carbon_domain.db.link_models import PipelineJobLink
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Pipeline, RecalcChunk
from carbon_domain.settings import get_settings

INGEST = (JobType.factor_ingest, JobType.csv_ingest, JobType.reference_ingest, JobType.unit_sync)
RECALC = (JobType.emission_recalc,)  # the module-level root only mirrors its children
AGGREGATE = (JobType.aggregation,)
_MAX_IDS = 100


@dataclass(frozen=True, slots=True)
class PipelineFilters:
    """Every filter is optional; they combine with AND. Times are compared in UTC."""

    status: str | None = None
    kind: str | None = None
    module_type_id: int | None = None
    year: int | None = None
    has_errors: bool | None = None  # a job of its own finished as ERROR
    has_warnings: bool | None = None  # a job of its own finished as WARNING
    queued: bool | None = None  # RUNNING and no job of it started yet (WAITING)
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    created_by: str | None = None  # exact name

    def conditions(self, *, with_status: bool = True) -> list[Any]:
        c: list[Any] = []
        if with_status and self.status == QUEUED:  # the display status: RUNNING, waiting
            c.append(WAITING)
        elif with_status and self.status is not None:
            c.append(Pipeline.status == self.status)
        for col, value in ((Pipeline.kind, self.kind), (Pipeline.year, self.year),
                           (Pipeline.module_type_id, self.module_type_id),
                           (Pipeline.created_by, self.created_by)):
            if value is not None:
                c.append(col == value)
        if self.has_errors is not None:
            c.append(Pipeline.error_count > 0 if self.has_errors else Pipeline.error_count == 0)
        if self.has_warnings is not None:
            c.append(WARNED if self.has_warnings else ~WARNED)
        if self.queued is not None:
            c.append(WAITING if self.queued else ~WAITING)
        if self.created_after is not None:
            c.append(Pipeline.created_at >= self.created_after)
        if self.created_before is not None:
            c.append(Pipeline.created_at < self.created_before)
        return c


# What a SUCCESS pipeline with a job of its own that ended WARNING (rows skipped, a column
# ignored) is shown as, on every surface; its stored status stays SUCCESS. A RUNNING pipeline
# none of whose jobs (its own or one it joined) has started yet — no worker took its first
# task: none runs, or all are busy — is QUEUED ("waiting for a worker"); its stored status
# stays RUNNING. Every other display status is the stored one.
SUCCESS_WITH_WARNINGS = "SUCCESS_WITH_WARNINGS"
QUEUED = "QUEUED"
DISPLAY_STATUSES = (PipelineStatus.NOT_STARTED.value, QUEUED, PipelineStatus.RUNNING.value,
                    PipelineStatus.SUCCESS.value, SUCCESS_WITH_WARNINGS,
                    PipelineStatus.PARTIAL.value, PipelineStatus.FAILED.value,
                    PipelineStatus.ABORTED.value)
# The same "a job of its own ended WARNING" in SQL, for the filter and the counts: an index
# probe of data_ingestion_jobs.pipeline_id per pipeline.
WARNED = exists().where(Job.pipeline_id == Pipeline.id, Job.state == JobState.FINISHED,
                        Job.result == JobResult.WARNING)
# The same "no job of it has started" in SQL (its own jobs, then the jobs it joined).
_Joined = aliased(Job)
WAITING = and_(Pipeline.status == PipelineStatus.RUNNING,
               ~exists().where(Job.pipeline_id == Pipeline.id, Job.started_at.is_not(None)),
               ~exists().where(PipelineJobLink.pipeline_id == Pipeline.id,
                               _Joined.id == PipelineJobLink.job_id,
                               _Joined.started_at.is_not(None)))


def display_status(status: str, warning_count: int, *, started: bool = True) -> str:
    """The one rule: a SUCCESS with a WARNING job of its own is shown as succeeded with
    warnings, a RUNNING pipeline none of whose jobs has ``started`` as queued
    (pipeline_reads' views carry it); every other status as it is stored."""
    if status == PipelineStatus.RUNNING and not started:
        return QUEUED
    return SUCCESS_WITH_WARNINGS if status == PipelineStatus.SUCCESS and warning_count \
        else str(status)


@dataclass(slots=True)
class Phase:
    name: str  # ingest | recalculation | aggregation
    state: str  # absent | pending | running | finished
    result: str | None  # once finished: the worst result of its jobs
    jobs_total: int = 0
    jobs_finished: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    chunks_failed: int = 0  # chunks of a finished job that never completed
    # Chunks of an aborted job that never completed: their tasks were revoked, they did not
    # fail ("chunks 38/89 · 51 failed" said otherwise after an abort).
    chunks_aborted: int = 0
    label: str = ""


@dataclass(slots=True)
class TimelineEvent:
    at: datetime
    event: str  # created | dispatched | started | heartbeat | finished
    job_id: int | None
    job_type: str | None
    data_entry_type_id: int | None = None
    detail: str | None = None


@dataclass(slots=True)
class ChunkCounts:
    total: int = 0
    done: int = 0
    entries_done: int = 0  # entries of the done chunks: read with the counts, so a card's
    # chunk chip and its per-type line come from one snapshot and never disagree


@dataclass(slots=True)
class Coalesced:
    count: int = 0
    job_ids: list[int] = field(default_factory=list)


def counts_by_display_status(session: Session, filters: PipelineFilters) -> dict[str, int]:
    """Pipelines per display status over the whole filtered result (every filter applied)."""
    out: dict[str, int] = {}
    for (_, shown), n in counts_by_kind(session, filters).items():
        out[shown] = out.get(shown, 0) + n
    return out


def counts_by_kind(session: Session, filters: PipelineFilters) -> dict[tuple[str, str], int]:
    """Pipelines per (kind, :func:`display_status`) in one query: every count of pipelines a
    surface shows (API, console, CLI, the ``carbon_pipelines`` metric) comes from here."""
    cols = (Pipeline.kind, Pipeline.status, WARNED.label("warned"), WAITING.label("waiting"))
    out: dict[tuple[str, str], int] = {}
    for kind, status, w, q, n in session.execute(
            select(*cols, func.count()).where(*filters.conditions()).group_by(*cols)):
        key = (str(kind), display_status(str(status), int(bool(w)), started=not q))
        out[key] = out.get(key, 0) + int(n)
    return out


def stored_counts(shown: dict[str, int]) -> dict[str, int]:
    """Counts by display status folded back into counts by stored status."""
    out: dict[str, int] = {}
    for status, n in shown.items():
        key = {SUCCESS_WITH_WARNINGS: PipelineStatus.SUCCESS.value,
               QUEUED: PipelineStatus.RUNNING.value}.get(status, status)
        out[key] = out.get(key, 0) + n
    return out


def chunk_counts(session: Session, job_ids: Iterable[int]) -> dict[int, ChunkCounts]:
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(RecalcChunk.job_id, func.count(),
               func.coalesce(func.sum(case((RecalcChunk.done.is_(True), 1), else_=0)), 0),
               func.coalesce(func.sum(case((RecalcChunk.done.is_(True), RecalcChunk.entries),
                                           else_=0)), 0))
        .where(RecalcChunk.job_id.in_(ids)).group_by(RecalcChunk.job_id))
    return {int(j): ChunkCounts(int(n), int(d), int(e)) for j, n, d, e in rows}


def phases(jobs: list[Job], chunks: dict[int, ChunkCounts]) -> list[Phase]:
    out = []
    for name, types in (("ingest", INGEST), ("recalculation", RECALC),
                        ("aggregation", AGGREGATE)):
        mine = [j for j in jobs if j.job_type in types]
        ph = Phase(name, _phase_state(mine), _worst(mine), len(mine),
                   sum(j.state == JobState.FINISHED for j in mine))
        for j in mine:
            c = chunks.get(j.id)
            if c is None:
                continue
            ph.chunks_total += c.total
            ph.chunks_done += c.done
            left = c.total - c.done
            # meta only when chunks were left undone: listings load the jobs without it
            # (defer), and reading it for every finished job was one query per job per page.
            if j.state == JobState.FINISHED and left:
                if (j.meta or {}).get("aborted"):
                    ph.chunks_aborted += left
                else:
                    ph.chunks_failed += left
        ph.label = _label(ph)
        out.append(ph)
    return out


def _phase_state(jobs: list[Job]) -> str:
    if not jobs:
        return "absent"
    if all(j.state == JobState.FINISHED for j in jobs):
        return "finished"
    if any(j.state == JobState.RUNNING for j in jobs) or any(
            j.state == JobState.FINISHED for j in jobs):
        return "running"
    return "pending"


def _worst(jobs: list[Job]) -> str | None:
    if not jobs or any(j.state != JobState.FINISHED for j in jobs):
        return None
    results = {j.result for j in jobs}
    for r in (JobResult.ERROR, JobResult.WARNING):
        if r in results:
            return r.value
    return JobResult.SUCCESS.value


def _label(ph: Phase) -> str:
    if ph.state == "absent":
        return f"{ph.name}: none"
    if ph.name == "recalculation" and ph.chunks_total:
        return f"chunks {ph.chunks_done}/{ph.chunks_total}" + chunks_left_text(ph)
    if ph.state == "finished":
        return f"{ph.name} {ph.result or ''}".strip()
    return f"{ph.name} {ph.jobs_finished}/{ph.jobs_total}"


def chunks_left_text(ph: Phase) -> str:
    """" · 2 failed", " · 51 not run (aborted)": the chunks a finished phase left undone."""
    return ((f" · {ph.chunks_failed} failed" if ph.chunks_failed else "")
            + (f" · {ph.chunks_aborted} not run (aborted)" if ph.chunks_aborted else ""))


def duration_seconds(p: Pipeline, now: datetime | None = None) -> float | None:
    start = p.started_at or p.created_at
    if start is None:
        return None
    end = p.finished_at or now or utcnow()
    return max(0.0, round((end - start).total_seconds(), 3))


def message(p: Pipeline, jobs: list[Job]) -> str | None:
    """The error if there is one, else what the first (root) job says."""
    if p.last_error:
        return p.last_error
    own = [j for j in jobs if j.pipeline_id == p.id]
    return own[0].status_message if own else None


def is_stuck(job: Job, now: datetime | None = None, threshold: float | None = None) -> bool:
    """RUNNING without a heartbeat for longer than the reconciler's threshold
    (``CARBON_STALE_JOB_SECONDS``): the reconciler will retry or give it up."""
    if job.state != JobState.RUNNING:
        return False
    since = job.heartbeat_at or job.started_at or job.created_at
    if since is None:
        return False
    limit = get_settings().stale_job_seconds if threshold is None else threshold
    return ((now or utcnow()) - since).total_seconds() > limit


def coalesced_recalculations(session: Session, agg: Job) -> Coalesced:
    """Recalculations of the aggregation's (module, year) this one aggregation covered.

    Each finished recalculation requests an aggregation; requests that find one active join
    it (and make it run again if it already read its input). So this aggregation covers the
    recalculations that finished after the previous aggregation of the (module, year)
    finished, up to its own finish (or now while it is active).
    """
    if agg.job_type != JobType.aggregation:
        return Coalesced()
    prev_finished = session.scalar(
        select(Job.finished_at).where(
            Job.job_type == JobType.aggregation, Job.module_type_id == agg.module_type_id,
            Job.year == agg.year, Job.id < agg.id, Job.state == JobState.FINISHED)
        .order_by(Job.id.desc()).limit(1))
    conds = [Job.job_type == JobType.emission_recalc, Job.module_type_id == agg.module_type_id,
             Job.year == agg.year, Job.state == JobState.FINISHED]
    if prev_finished is not None:
        conds.append(Job.finished_at > prev_finished)
    if agg.finished_at is not None:
        conds.append(Job.finished_at <= agg.finished_at)
    n = int(session.scalar(select(func.count()).select_from(Job).where(and_(*conds))) or 0)
    ids = list(session.scalars(select(Job.id).where(and_(*conds)).order_by(Job.id)
                               .limit(_MAX_IDS)))
    return Coalesced(n, ids)


def timeline(p: Pipeline, jobs: list[Job]) -> list[TimelineEvent]:
    """State changes derived from the timestamps rows carry, oldest first."""
    ev: list[TimelineEvent] = []
    if p.created_at:
        ev.append(TimelineEvent(p.created_at, "created", None, None, None,
                                f"pipeline {p.kind}"))
    for j in jobs:
        base = (j.id, j.job_type, j.data_entry_type_id)
        for name, at in (("created", j.created_at), ("dispatched", j.dispatched_at),
                         ("started", j.started_at)):
            if at is not None:
                ev.append(TimelineEvent(at, name, *base))
        if j.heartbeat_at is not None and j.heartbeat_at not in (j.started_at, j.finished_at):
            ev.append(TimelineEvent(j.heartbeat_at, "heartbeat", *base,
                                    "last heartbeat" + (" (stuck)" if is_stuck(j) else "")))
        if j.finished_at is not None:
            ev.append(TimelineEvent(j.finished_at, "finished", *base, j.result))
    if p.finished_at:
        ev.append(TimelineEvent(p.finished_at, "finished", None, None, None, p.status))
    order = {"created": 0, "dispatched": 1, "started": 2, "heartbeat": 3, "finished": 4}
    ev.sort(key=lambda e: (e.at, e.job_id is None and e.event == "finished",
                           e.job_id or 0, order[e.event]))
    return ev


def linked_jobs(session: Session, pipelines: list[Pipeline]) -> dict[uuid.UUID, list[Job]]:
    """Jobs of other pipelines each pipeline joined (dedup hits), one query for a page."""
    want: dict[uuid.UUID, list[int]] = {p.id: [] for p in pipelines}
    if not want:
        return {}
    for pid, job_id in session.execute(select(PipelineJobLink.pipeline_id, PipelineJobLink.job_id)
                                       .where(PipelineJobLink.pipeline_id.in_(list(want)))
                                       .order_by(PipelineJobLink.job_id)):
        want[pid].append(job_id)
    ids = sorted({i for v in want.values() for i in v})
    if not ids:
        return {}
    rows = {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(ids)))}
    return {pid: [rows[i] for i in v if i in rows] for pid, v in want.items()}


def is_active(job: Job) -> bool:
    return job.state in ACTIVE_STATES
