"""Pipeline read models for the console: the filtered list with counts by status for the whole
filtered result, one pipeline's live view (phases, per-type progress, chunks) and its detail
(jobs, row errors, timeline, stuck flags, coalesced aggregations)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carbon_api.console.adapters import label
from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import JobResult, JobType, PipelineStatus
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Pipeline
from carbon_domain.services import pipeline_console as pc
from carbon_domain.services.pipelines import pipeline_jobs

INGEST = (JobType.factor_ingest, JobType.csv_ingest, JobType.reference_ingest,
          JobType.unit_sync)
STATUS_TEXT = {"RUNNING": "Running", "SUCCESS": "Succeeded", "PARTIAL": "Partly failed",
               "FAILED": "Failed", "ABORTED": "Aborted", "NOT_STARTED": "Not started"}
STATUS_ICON = {"RUNNING": "⟳", "SUCCESS": "✓", "PARTIAL": "◐", "FAILED": "✗", "ABORTED": "■",
               "NOT_STARTED": "…"}
KIND_TEXT: dict[str, str] = {
             JobType.factor_ingest: "Factor upload", JobType.csv_ingest: "Data upload",
             JobType.reference_ingest: "Reference upload", JobType.unit_sync: "Units upload",
             JobType.emission_recalc: "Type recalculation",
             JobType.module_emission_recalc: "Module recalculation",
             JobType.aggregation: "Aggregation", JobType.factor_preview: "Impact preview"}


Filters = pc.PipelineFilters


def module_label(module: int | None) -> str:
    if module is None:
        return "—"
    try:
        return label(ModuleType(module).name)
    except ValueError:
        return str(module)


def det_label(det: int | None) -> str:
    if det is None:
        return "whole module"
    try:
        return label(DataEntryType(det).name)
    except ValueError:
        return str(det)


def list_pipelines(session: Session, f: Filters, limit: int = 50, offset: int = 0
                   ) -> tuple[list[dict[str, Any]], int, dict[PipelineStatus, int]]:
    """(page of rows, total, counts by status over the whole filtered result)."""
    # Counts ignore the status filter, so the chips show what the other statuses hold too.
    counts = {s: int(n) for s, n in session.execute(
        select(Pipeline.status, func.count()).where(*f.conditions(with_status=False))
        .group_by(Pipeline.status))}
    conds = f.conditions()
    total = int(session.scalar(select(func.count()).select_from(Pipeline).where(*conds)) or 0)
    page = list(session.scalars(select(Pipeline).where(*conds)
                                .order_by(Pipeline.created_at.desc(), Pipeline.id)
                                .limit(limit).offset(offset)))
    return [summary(session, p) for p in page], total, counts


_PHASE_STATE = {"absent": "none", "pending": "queued", "running": "running"}
_RESULT_STATE = {"ERROR": "failed", "WARNING": "warning"}


def _phases(p: Pipeline, jobs: list[Job], chunks: dict[int, pc.ChunkCounts]
            ) -> list[dict[str, Any]]:
    """The service's phases as chips: absent phases only where this kind of pipeline has
    them still to come."""
    out = []
    for ph in pc.phases(jobs, chunks):
        state = _PHASE_STATE.get(ph.state) or _RESULT_STATE.get(ph.result or "", "done")
        if state == "none" and not _expected(p, ph.name, jobs):
            continue
        text = ""
        if ph.name == "recalculation" and ph.chunks_total:
            text = f"chunks {ph.chunks_done}/{ph.chunks_total}" + (
                f" · {ph.chunks_failed} failed" if ph.chunks_failed else "")
        out.append({"name": ph.name, "state": state, "text": text})
    return out


def _expected(p: Pipeline, phase: str, jobs: list[Job]) -> bool:
    if phase == "ingest":
        return p.kind in INGEST
    if phase == "recalculation":
        return p.kind in (JobType.emission_recalc, JobType.module_emission_recalc)
    return any(j.job_type == JobType.emission_recalc for j in jobs) or p.kind in (
        JobType.emission_recalc, JobType.module_emission_recalc)


stuck = pc.is_stuck


def summary(session: Session, p: Pipeline, jobs: list[Job] | None = None) -> dict[str, Any]:
    """What a row, a card or a stream event shows of a pipeline."""
    jobs = pipeline_jobs(session, p.id) if jobs is None else jobs
    ingest = [j for j in jobs if j.job_type in INGEST]
    recalc = [j for j in jobs if j.job_type == JobType.emission_recalc]
    phases = _phases(p, jobs, pc.chunk_counts(session, [j.id for j in recalc]))
    types = [{"det": j.data_entry_type_id, "label": det_label(j.data_entry_type_id),
              "done": int(j.progress_done or 0), "total": int(j.progress_total or 0),
              "state": j.state, "result": j.result, "message": j.status_message}
             for j in recalc]
    root = next((j for j in jobs if j.pipeline_id == p.id), None)
    row_errors = [e for j in ingest for e in ((j.meta or {}).get("row_errors") or [])]
    end = p.finished_at or (utcnow() if p.status == PipelineStatus.RUNNING else None)
    start = p.started_at or p.created_at
    message = p.last_error or (root.status_message if root else None)
    if p.status != PipelineStatus.RUNNING and ingest:
        message = ingest[0].status_message or message
    return {
        "id": str(p.id), "kind": p.kind, "kind_text": KIND_TEXT.get(p.kind, p.kind),
        "status": p.status, "status_text": STATUS_TEXT.get(p.status, p.status),
        "status_icon": STATUS_ICON.get(p.status, "?"),
        "terminal": p.status != PipelineStatus.RUNNING,
        "module": p.module_type_id, "module_label": module_label(p.module_type_id),
        "det": root.data_entry_type_id if root else None,
        "year": p.year, "created_by": p.created_by, "created_at": p.created_at,
        "duration": (end - start).total_seconds() if end and start else None,
        "message": message, "error_count": p.error_count, "phases": phases, "types": types,
        "result": ingest[0].result if ingest else None,
        "row_errors": row_errors[:200], "skipped": sum(
            int((j.meta or {}).get("skipped") or 0) for j in ingest),
        "stuck": any(stuck(j) for j in jobs),
        "upload_id": next((j.upload_id for j in ingest if j.upload_id), None),
    }


def get(session: Session, pipeline_id: str) -> Pipeline | None:
    try:
        pid = uuid.UUID(str(pipeline_id))
    except ValueError:
        return None
    return session.get(Pipeline, pid, populate_existing=True)


def detail(session: Session, p: Pipeline) -> dict[str, Any]:
    """Summary plus jobs, timeline and coalescing, for the expanded row."""
    jobs = pipeline_jobs(session, p.id)
    out = summary(session, p, jobs)
    out["jobs"] = [{"id": j.id, "type": KIND_TEXT.get(j.job_type, j.job_type),
                    "type_label": det_label(j.data_entry_type_id), "state": j.state,
                    "result": j.result, "message": j.status_message, "attempts": j.attempts,
                    "stuck": stuck(j), "joined": j.pipeline_id != p.id,
                    "progress": f"{int(j.progress_done or 0)}/{int(j.progress_total or 0)}"}
                   for j in jobs]
    events: list[tuple[datetime, str]] = [(p.created_at, "pipeline created")]
    for j in jobs:
        kind = KIND_TEXT.get(j.job_type, j.job_type)
        name = f"{kind} #{j.id} ({det_label(j.data_entry_type_id)})"
        for at, what in ((j.created_at, "created"), (j.dispatched_at, "queued"),
                         (j.started_at, "started"),
                         (j.finished_at, f"finished {j.result or ''}".strip())):
            if at is not None:
                events.append((at, f"{name} {what}"))
    if p.finished_at:
        events.append((p.finished_at, f"pipeline {p.status}"))
    out["timeline"] = sorted(events, key=lambda e: e[0])
    out["coalesced"] = coalesced(session, [j for j in jobs if j.job_type == JobType.aggregation])
    out["stale_left"] = (p.status in (PipelineStatus.FAILED, PipelineStatus.PARTIAL,
                                      PipelineStatus.ABORTED)
                         and any(j.job_type == JobType.emission_recalc
                                 and j.result == JobResult.ERROR for j in jobs))
    return out


def coalesced(session: Session, aggs: list[Job]) -> list[str]:
    """"3 recalculations → 1 aggregation" for each aggregation that served several."""
    out = []
    for a in aggs:
        n = pc.coalesced_recalculations(session, a).count
        if n > 1:
            out.append(f"{n} recalculations → 1 aggregation (#{a.id})")
    return out
