"""Impact preview of a factor upload: what the file would do, before anything is written.

A preview is a ``factor_preview`` job over the stored file. Its work runs the real factor
ingest (``ingest_factors``: the same parsing, validation and ``write_factor_set``) inside a
SAVEPOINT, measures the result (services/preview/preview_figures.py), then rolls the savepoint back:
no factor, history, entry or emission row of the preview survives; only its figures are
kept, in ``upload_previews``, with ``inputs_mark`` — the newest input job (factor or data
entry upload of the module and year, reference or units upload) at compute time. Applying
uploads the same file as a normal upload with recalculation, and is refused (409) when an
input job newer than the mark exists: what is applied is what was previewed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import UploadedFile
from carbon_domain.db.preview_models import UploadPreview
from carbon_domain.errors import ErrorKind, Refused
from carbon_domain.services.ingest.ingest import ingest_factors
from carbon_domain.services.jobs.job_runs import JobOutcome
from carbon_domain.services.preview.preview_figures import factor_changes, measure

# How long a preview can be read and applied (the figures age with every later upload
# anyway; an apply after a later input is refused regardless).
PREVIEW_TTL = timedelta(hours=24)


class PreviewRefused(Refused):
    """Why a preview cannot be read or applied (not found, expired, or a conflict)."""


@dataclass(frozen=True, slots=True)
class PreviewView:
    """A preview as the API shows it: its job's state, and the figures once computed."""

    preview_id: int
    job_id: int
    pipeline_id: str | None
    state: str
    result: str | None
    message: str | None
    progress_done: int | None
    progress_total: int | None
    module_type_id: int
    data_entry_type_id: int | None
    year: int
    mode: str
    filename: str | None
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    expired: bool
    applied_job_id: int | None
    figures: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ApplyPlan:
    """What applying a preview uploads: the previewed file, as it was previewed."""

    preview_id: int
    module_type_id: int
    data_entry_type_id: int | None
    year: int
    mode: str
    filename: str
    content: bytes


def create_preview(session: Session, job: Job, *, mode: str) -> int:
    """The preview row of a just created ``factor_preview`` job (same transaction)."""
    assert job.module_type_id is not None and job.year is not None and job.upload_id
    now = utcnow()
    row = UploadPreview(job_id=job.id, upload_id=job.upload_id,
                        module_type_id=job.module_type_id,
                        data_entry_type_id=job.data_entry_type_id, year=job.year, mode=mode,
                        created_by=job.created_by, created_at=now, expires_at=now + PREVIEW_TTL)
    session.add(row)
    session.flush()
    return row.id


def _inputs(module: int, year: int) -> Any:
    return or_((Job.job_type.in_((JobType.factor_ingest, JobType.csv_ingest))
                & (Job.module_type_id == module) & (Job.year == year)),
               Job.job_type == JobType.reference_ingest,
               (Job.job_type == JobType.unit_sync) & (Job.year == year))


def inputs_mark(session: Session, module: int, year: int) -> int:
    """The newest input job of (module, year); -1 while one is still active (its writes
    may land after this read, so figures computed now may not hold)."""
    active = session.scalar(select(func.count()).where(
        _inputs(module, year), Job.state.in_(ACTIVE_STATES)))
    if active:
        return -1
    return int(session.scalar(select(func.coalesce(func.max(Job.id), 0)).where(
        _inputs(module, year))) or 0)


def compute_preview(session: Session, job: Job) -> JobOutcome:
    """The preview job's work: ingest and measure in a savepoint, roll it back, keep the
    figures. A file the ingest refuses finishes the job as ERROR with the ingest's message."""
    preview = session.scalar(select(UploadPreview).where(UploadPreview.job_id == job.id))
    if preview is None:  # discarded before it ran
        return JobOutcome(JobResult.WARNING, "Preview discarded before it was computed")
    module = ModuleType(preview.module_type_id)
    dets = ([preview.data_entry_type_id] if preview.data_entry_type_id
            else [d.value for d in MODULE_DATA_ENTRY_TYPES[module]])
    savepoint = session.begin_nested()
    try:
        outcome = ingest_factors(session, job)  # takes the (module, year) factor lock
        # Read under the lock: no input of this module and year commits meanwhile.
        mark = inputs_mark(session, module.value, preview.year)
        figures: dict[str, Any] | None = None
        if outcome.result != JobResult.ERROR:
            figures = dict(measure(session, preview.year, dets))
            figures["factors"] = {**factor_changes(session, job.id),
                                  "unchanged": int(outcome.meta.get("factors_unchanged", 0))}
    finally:
        savepoint.rollback()
    preview = session.scalar(select(UploadPreview).where(UploadPreview.job_id == job.id))
    if preview is None:
        return JobOutcome(JobResult.WARNING, "Preview discarded while it was computed")
    if figures is None:
        return JobOutcome(JobResult.ERROR, outcome.message, outcome.meta)
    preview.figures = figures
    preview.inputs_mark = mark
    total = figures["total"]
    return JobOutcome(
        outcome.result, f"Preview {preview.id}: {outcome.message.split(';')[0]}; "
        f"{sum(t['affected'] for t in figures['entries'])} entries change, total "
        f"{total['before']:.6g} → {total['after']:.6g} kg CO2-eq",
        {"preview_id": preview.id, "row_errors": outcome.meta.get("row_errors", [])})


def _get(session: Session, preview_id: int, *, lock: bool = False) -> UploadPreview:
    q = select(UploadPreview).where(UploadPreview.id == preview_id)
    row = session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise PreviewRefused(ErrorKind.NOT_FOUND,
                             f"preview {preview_id} not found (unknown or discarded)")
    return row


def read_preview(session: Session, preview_id: int) -> PreviewView:
    row = _get(session, preview_id)
    job = session.get(Job, row.job_id)
    name = session.scalar(select(UploadedFile.filename).where(UploadedFile.id == row.upload_id))
    return PreviewView(
        row.id, row.job_id, str(job.pipeline_id) if job and job.pipeline_id else None,
        job.state.value if job else "UNKNOWN", job.result.value if job and job.result else None,
        job.status_message if job else None, job.progress_done if job else None,
        job.progress_total if job else None, row.module_type_id, row.data_entry_type_id,
        row.year, row.mode, name, row.created_by, row.created_at, row.expires_at,
        row.expires_at <= utcnow(), row.applied_job_id, row.figures)


def plan_apply(session: Session, preview_id: int) -> ApplyPlan:
    """Check a preview can be applied (PreviewRefused otherwise) and lock its row until the
    caller's transaction ends, so two applies of one preview cannot both pass."""
    row = _get(session, preview_id, lock=True)
    if row.expires_at <= utcnow():
        raise PreviewRefused(ErrorKind.GONE,
                             f"preview {preview_id} expired at "
                             f"{row.expires_at.isoformat()}: preview the file again")
    if row.applied_job_id is not None:
        raise PreviewRefused(ErrorKind.CONFLICT,
                             f"preview {preview_id} was already applied "
                             f"(job {row.applied_job_id})")
    job = session.get(Job, row.job_id)
    if job is None or job.state != JobState.FINISHED or row.figures is None:
        state = "gone" if job is None else job.state.value
        if job is not None and job.result is not None:
            state += f", {job.result.value}"
        raise PreviewRefused(ErrorKind.CONFLICT,
                             f"preview {preview_id} has no figures (its job is {state})")
    if row.inputs_mark is None or row.inputs_mark < 0:
        raise PreviewRefused(ErrorKind.CONFLICT,
                             f"inputs of this module and year were being written while "
                             f"preview {preview_id} was computed: preview the file again")
    later = session.scalar(select(Job).where(_inputs(row.module_type_id, row.year),
                                             Job.id > row.inputs_mark)
                           .order_by(Job.id).limit(1))
    if later is not None:
        raise PreviewRefused(ErrorKind.CONFLICT,
                             f"job {later.id} ({later.job_type.value}, by "
                             f"{later.created_by or 'unknown'}) changed the inputs of "
                             f"this module and year after preview {preview_id} was "
                             "computed: preview the file again")
    upload = session.get(UploadedFile, row.upload_id)
    if upload is None:
        raise PreviewRefused(ErrorKind.CONFLICT,
                             f"the file of preview {preview_id} is no longer stored")
    return ApplyPlan(row.id, row.module_type_id, row.data_entry_type_id, row.year, row.mode,
                     upload.filename, bytes(upload.content))


def mark_applied(session: Session, preview_id: int, job_id: int) -> None:
    _get(session, preview_id).applied_job_id = job_id


def discard_preview(session: Session, preview_id: int) -> None:
    """Forget a preview (its job and file stay, as every job's do)."""
    session.delete(_get(session, preview_id))
