"""A large preview measured by chunks on several workers, like a recalculation
(docs/design.md §4): the preview job plans the chunks inside its savepoint
(services/preview/previews.py ``FanOut``: each slice's id ranges, and the inputs the file
leaves — a factor upload's factor records per slice, a reference upload's reference rows);
each chunk measures one range in its own read-only transaction and returns its
:class:`~carbon_domain.services.preview.preview_meter.Partial`; the fold adds the partials
up and stores the figures. The chunks read the committed entries and emission rows: an
input committed meanwhile is newer than the preview's mark, so its apply is refused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import JobResult, JobState
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.preview_models import UploadPreview
from carbon_domain.services.inputs.slices import load_factor_index, load_reference_data
from carbon_domain.services.jobs.job_runs import JobOutcome
from carbon_domain.services.preview import preview_scope as scope
from carbon_domain.services.preview.preview_figures import measure_range
from carbon_domain.services.preview.preview_meter import Partial, fold
from carbon_domain.services.preview.previews import store_figures


def owns(session: Session, job_id: int, attempt: int) -> bool:
    """Is ``attempt`` still the running attempt of the preview job?"""
    return session.scalar(select(Job.id).where(
        Job.id == job_id, Job.state == JobState.RUNNING, Job.attempts == attempt)) is not None


def measure_chunk(session: Session, job_id: int, attempt: int, chunk: dict[str, Any],
                  inputs: dict[str, Any]) -> dict[str, Any] | None:
    """One id range of a slice, before → after; None when the attempt no longer runs (an
    abort, or the reconciler started the preview again)."""
    if not owns(session, job_id, attempt):
        return None
    det, year = int(chunk["det"]), int(chunk["year"])
    if "records" in inputs:
        index = scope.index_of(inputs["records"], det, year)
        refs = load_reference_data(session)  # committed and unchanged by a factor file
    else:
        index = load_factor_index(session, det, year)  # unchanged by a reference file
        refs = scope.refs_of(inputs["refs"])
    acc = Partial()
    measure_range(session, acc, det, year, int(chunk["lo"]), int(chunk["hi"]), index, refs,
                  chunk.get("ids"))
    n = int(chunk["entries"])
    session.execute(update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING,
                                      Job.attempts == attempt)
                    .values(heartbeat_at=utcnow(),
                            progress_done=Job.progress_done + n))
    return acc.compact().to_json()


def fold_chunks(session: Session, job_id: int, partials: list[dict[str, Any] | None],
                base: dict[str, Any]) -> JobOutcome | None:
    """The figures from every chunk's partial, kept on the preview (None when a chunk
    found its attempt superseded: the newer attempt computes the figures)."""
    if any(p is None for p in partials):
        return None
    preview = session.scalar(select(UploadPreview).where(UploadPreview.job_id == job_id))
    if preview is None:
        return JobOutcome(JobResult.WARNING, "Preview discarded while it was computed")
    folded = fold(Partial.from_json(p) for p in partials if p is not None)
    return store_figures(session, preview, folded, base)
