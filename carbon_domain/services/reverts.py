"""Undo a factor upload: the factor set of its scope as it was just before it, as a new file.

The state before upload J is read from the factor history (services/factor_history.py): a
factor J changed is restored to its values before J (live if J updated or retired it,
absent if J inserted it or revived it); a factor J did not touch is as it is now. That set,
written as a factor CSV of J's scope, becomes a normal replace-mode upload (a new job), so
the revert is itself recorded in the history, marks the types stale and recalculates
incrementally like any upload. Only the latest upload of a scope can be reverted: a later
one changed the same factors from J's state, which a revert of J would silently undo too.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.csv_rows.factors import factor_columns
from carbon_domain.db.enums import JobResult, JobState, JobType
from carbon_domain.db.models import DataIngestionJob, Factor, FactorHistory
from carbon_domain.services import factor_history as history
from carbon_domain.services.job_meta import job_config

# What the factors were before J, by the change J made to them.
_LIVE_BEFORE = {history.UPDATED: True, history.RETIRED: True, history.INSERTED: False,
                history.REVIVED: False}


class RevertRefused(Exception):
    """Why this job cannot be reverted; ``status`` is the HTTP answer (404, 409, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class RevertPlan:
    job_id: int                    # the upload reverted
    module_type_id: int
    data_entry_type_id: int | None
    year: int
    recalculate: bool              # as the reverted upload asked
    factors: int                   # rows of the restoring file
    changes_undone: int            # history rows of the reverted upload
    filename: str
    content: bytes


def _job(session: Session, job_id: int) -> DataIngestionJob:
    job = session.get(DataIngestionJob, job_id)
    if job is None:
        raise RevertRefused(404, f"job {job_id} not found")
    if job.job_type != JobType.factor_ingest or job.upload_id is None:
        raise RevertRefused(422, f"job {job_id} is a {job.job_type.value} job: only factor "
                                 "uploads can be reverted")
    if job.state != JobState.FINISHED:
        raise RevertRefused(409, f"job {job_id} is {job.state.value}: wait until it finished")
    if job.result == JobResult.ERROR:
        raise RevertRefused(409, f"job {job_id} ended in ERROR and changed no factor: "
                                 "nothing to revert")
    return job


def later_upload(session: Session, job: DataIngestionJob) -> DataIngestionJob | None:
    """The first factor upload after ``job`` whose scope overlaps it (same module and year;
    the same type, or either module-wide) and that may have written (not ERROR)."""
    q = select(DataIngestionJob).where(
        DataIngestionJob.job_type == JobType.factor_ingest, DataIngestionJob.id > job.id,
        DataIngestionJob.module_type_id == job.module_type_id,
        DataIngestionJob.year == job.year, DataIngestionJob.upload_id.is_not(None),
        or_(DataIngestionJob.result.is_(None), DataIngestionJob.result != JobResult.ERROR))
    if job.data_entry_type_id is not None:
        q = q.where(or_(DataIngestionJob.data_entry_type_id.is_(None),
                        DataIngestionJob.data_entry_type_id == job.data_entry_type_id))
    return session.scalars(q.order_by(DataIngestionJob.id).limit(1)).first()


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # the shortest text that parses back to the same float
    return str(v)


def _csv(dets: list[int], routed: bool,
         rows: list[tuple[int, Mapping[str, Any], Mapping[str, Any]]]) -> bytes:
    columns: list[str] = ["data_entry_type"] if routed else []
    for d in dets:
        columns += [c for c in factor_columns(d) if c not in columns]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    for det, classification, values in rows:
        cells = {**values, **classification, "data_entry_type": DataEntryType(det).name}
        w.writerow([_cell(cells.get(c)) for c in columns])
    return out.getvalue().encode()


def plan_factor_revert(session: Session, job_id: int) -> RevertPlan:
    """The file that restores the factors of ``job_id``'s scope to their state just before
    it; RevertRefused when it cannot (not a finished factor upload, a later upload of the
    scope exists, or the upload created a type's first factors: a file cannot say "none")."""
    job = _job(session, job_id)
    assert job.module_type_id is not None and job.year is not None  # factor uploads have them
    later = later_upload(session, job)
    if later is not None:
        raise RevertRefused(409, f"job {later.id} (a later factor upload of the same module "
                                 f"and year, by {later.created_by or 'unknown'}) changed these "
                                 f"factors after job {job_id}: revert job {later.id} first")
    dets = sorted(int(d) for d in (job.meta or {}).get("data_entry_type_ids") or [])
    if not dets:
        raise RevertRefused(409, f"job {job_id} wrote no factor: nothing to revert")
    touched = {fid: (change, before) for fid, change, before in session.execute(select(
        FactorHistory.factor_id, FactorHistory.change, FactorHistory.values_before).where(
        FactorHistory.job_id == job_id).order_by(FactorHistory.id))}
    rows: list[tuple[int, Mapping[str, Any], Mapping[str, Any]]] = []
    for f in session.scalars(select(Factor).where(
            Factor.data_entry_type_id.in_(dets), Factor.year == job.year).order_by(Factor.id)):
        if f.id in touched:
            change, before = touched[f.id]
            if _LIVE_BEFORE.get(change, False) and before is not None:
                rows.append((f.data_entry_type_id, f.classification, before))
        elif f.retired_at is None:
            rows.append((f.data_entry_type_id, f.classification, f.values))
    empty = [DataEntryType(d).name for d in dets if not any(r[0] == d for r in rows)]
    if empty:
        raise RevertRefused(409, f"job {job_id} created the first factors of "
                                 f"{', '.join(empty)} for {job.year}: a revert would have to "
                                 "retire them all, which an upload cannot express")
    module = ModuleType(job.module_type_id)
    routed = job.data_entry_type_id is None and len(MODULE_DATA_ENTRY_TYPES[module]) > 1
    return RevertPlan(job_id, module.value, job.data_entry_type_id, job.year,
                      job_config(job.meta).recalculate, len(rows), len(touched),
                      f"revert-of-job-{job_id}.csv", _csv(dets, routed, rows))
