"""Stored previews: creating the row of a preview job, reading it back, checking an apply
(and locking the row for it) and discarding it.

``upload_previews`` has a module and a year per row (NOT NULL since migration 0013, when
only factor files were previewed); a reference preview has neither and stores 0 for both,
which :func:`read_preview` shows as null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import JobState
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import UploadedFile
from carbon_domain.db.preview_models import UploadPreview
from carbon_domain.errors import ErrorKind, Refused
from carbon_domain.services.jobs.job_meta import job_config
from carbon_domain.services.preview import preview_scope as scope

# How long a preview can be read and applied (the figures age with every later upload
# anyway; an apply after a later input is refused regardless).
PREVIEW_TTL = timedelta(hours=24)


class PreviewRefused(Refused):
    """Why a preview cannot be read or applied (not found, expired, or a conflict)."""


@dataclass(frozen=True, slots=True)
class PreviewView:
    """A preview as the API shows it: its job's state, and the figures once computed.
    ``module_type_id`` and ``year`` are null for a reference preview (``kind`` one of
    stations, building-rooms, exchange-rates)."""

    preview_id: int
    job_id: int
    pipeline_id: str | None
    state: str
    result: str | None
    message: str | None
    progress_done: int | None
    progress_total: int | None
    module_type_id: int | None
    data_entry_type_id: int | None
    year: int | None
    mode: str
    filename: str | None
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    expired: bool
    applied_job_id: int | None
    figures: dict[str, Any] | None
    kind: str = scope.FACTORS
    reverts_job_id: int | None = None
    allow_unknown_columns: bool = False


@dataclass(frozen=True, slots=True)
class ApplyPlan:
    """What applying a preview uploads: the previewed file, as it was previewed."""

    preview_id: int
    module_type_id: int | None
    data_entry_type_id: int | None
    year: int | None
    mode: str
    filename: str
    content: bytes
    kind: str = scope.FACTORS
    allow_unknown_columns: bool = False
    clears: tuple[int, ...] = ()  # a first upload's revert empties these types
    reverts_job_id: int | None = None  # a revert's preview: the upload it undoes


def create_preview(session: Session, job: Job, *, mode: str) -> int:
    """The preview row of a just created preview job (same transaction)."""
    assert job.upload_id
    now = utcnow()
    row = UploadPreview(job_id=job.id, upload_id=job.upload_id,
                        module_type_id=job.module_type_id or 0,
                        data_entry_type_id=job.data_entry_type_id, year=job.year or 0,
                        mode=mode, created_by=job.created_by, created_at=now,
                        expires_at=now + PREVIEW_TTL)
    session.add(row)
    session.flush()
    return row.id


def _get(session: Session, preview_id: int, *, lock: bool = False) -> UploadPreview:
    q = select(UploadPreview).where(UploadPreview.id == preview_id)
    row = session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise PreviewRefused(ErrorKind.NOT_FOUND,
                             f"preview {preview_id} not found (unknown or discarded)")
    return row


def _config(job: Job | None) -> dict[str, Any]:
    return job_config(job.meta).model_dump() if job is not None else {}


def read_preview(session: Session, preview_id: int) -> PreviewView:
    row = _get(session, preview_id)
    job = session.get(Job, row.job_id)
    config = _config(job)
    name = session.scalar(select(UploadedFile.filename).where(UploadedFile.id == row.upload_id))
    return PreviewView(
        row.id, row.job_id, str(job.pipeline_id) if job and job.pipeline_id else None,
        job.state.value if job else "UNKNOWN", job.result.value if job and job.result else None,
        job.status_message if job else None, job.progress_done if job else None,
        job.progress_total if job else None, row.module_type_id or None,
        row.data_entry_type_id, row.year or None, row.mode, name, row.created_by,
        row.created_at, row.expires_at, row.expires_at <= utcnow(), row.applied_job_id,
        row.figures, config.get("kind") or scope.FACTORS, config.get("reverts_job_id"),
        bool(config.get("allow_unknown_columns")))


def _scope_words(kind: str) -> str:
    if scope.is_reference(kind):
        return f"the {kind} and the types reading them"
    return "this module and year"


def plan_apply(session: Session, preview_id: int) -> ApplyPlan:
    """Check a preview can be applied (PreviewRefused otherwise) and lock its row until the
    caller's transaction ends, so two applies of one preview cannot both pass."""
    row = _get(session, preview_id, lock=True)
    if row.expires_at <= utcnow():
        raise PreviewRefused(ErrorKind.GONE, f"preview {preview_id} expired at "
                             f"{row.expires_at.isoformat()}: preview the file again")
    if row.applied_job_id is not None:
        raise PreviewRefused(ErrorKind.CONFLICT, f"preview {preview_id} was already applied "
                             f"(job {row.applied_job_id})")
    job = session.get(Job, row.job_id)
    if job is None or job.state != JobState.FINISHED or row.figures is None:
        state = "gone" if job is None else job.state.value
        if job is not None and job.result is not None:
            state += f", {job.result.value}"
        raise PreviewRefused(ErrorKind.CONFLICT,
                             f"preview {preview_id} has no figures (its job is {state})")
    config = _config(job)
    kind = config.get("kind") or scope.FACTORS
    if row.inputs_mark is None or row.inputs_mark < 0:
        raise PreviewRefused(ErrorKind.CONFLICT,
                             f"inputs of {_scope_words(kind)} were being written while "
                             f"preview {preview_id} was computed: preview the file again")
    later = session.scalar(select(Job).where(
        scope.input_jobs(kind, row.module_type_id, row.year), Job.id > row.inputs_mark)
        .order_by(Job.id).limit(1))
    if later is not None:
        raise PreviewRefused(ErrorKind.CONFLICT, f"job {later.id} ({later.job_type.value}, by "
                             f"{later.created_by or 'unknown'}) changed the inputs of "
                             f"{_scope_words(kind)} after preview {preview_id} was "
                             "computed: preview the file again")
    upload = session.get(UploadedFile, row.upload_id)
    if upload is None:
        raise PreviewRefused(ErrorKind.CONFLICT,
                             f"the file of preview {preview_id} is no longer stored")
    return ApplyPlan(row.id, row.module_type_id or None, row.data_entry_type_id,
                     row.year or None, row.mode, upload.filename, bytes(upload.content), kind,
                     bool(config.get("allow_unknown_columns")),
                     tuple(int(c) for c in config.get("clears") or ()),
                     _job_id(config.get("reverts_job_id")))


def _job_id(v: Any) -> int | None:
    return int(v) if isinstance(v, int) else None


def mark_applied(session: Session, preview_id: int, job_id: int) -> None:
    _get(session, preview_id).applied_job_id = job_id


@dataclass(frozen=True, slots=True)
class Discarded:
    """A forgotten preview: discarding undoes nothing of an upload its apply started."""

    preview_id: int
    kind: str  # the previewed file's kind: factors | data-entries | stations | …
    applied_job_id: int | None  # the upload job its apply started, if it was applied


def discard_preview(session: Session, preview_id: int) -> Discarded:
    """Forget a preview (its job and file stay, as every job's do). Its row is locked as an
    apply locks it, so a discard and an apply of one preview do not cross unseen."""
    row = _get(session, preview_id, lock=True)
    kind = _config(session.get(Job, row.job_id)).get("kind") or scope.FACTORS
    out = Discarded(row.id, str(kind), row.applied_job_id)
    session.delete(row)
    return out
