"""Undo an upload: the factor set (or the data entries) of its scope as it was just before
it, as a new upload.

The state before upload J is read from the factor history (services/inputs/factor_history.py): a
factor J changed is restored to its values before J (live if J updated or retired it,
absent if J inserted it or revived it); a factor J did not touch is as it is now. That set,
written as a factor CSV of J's scope, becomes a normal replace-mode upload (a new job), so
the revert is itself recorded in the history, marks the types stale and recalculates
incrementally like any upload. Only the latest upload of a scope can be reverted: a later
one changed the same factors from J's state, which a revert of J would silently undo too.

A data entry upload replaces the year's CSV entries of its type(s) wholesale, so the entries
before it are exactly what the previous upload of the same scope loaded: its file is kept
(``uploaded_files``, within the upload retention: services/upkeep/upload_retention.py), and
the revert uploads that file again. Before the scope's first upload there were none: its
revert is a header-only file whose job empties the types it loaded (``clears``). A
reference upload (stations, building rooms, exchange rates) is undone by
services/ingest/reference_reverts.py.
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
from carbon_domain.csv_rows.entries import UNIT_COLUMN, entry_columns, entry_header_problem
from carbon_domain.csv_rows.factors import factor_columns
from carbon_domain.csv_rows.routing import needs_routing
from carbon_domain.db.enums import JobResult, JobState, JobType
from carbon_domain.db.history_models import FactorHistory
from carbon_domain.db.models import DataIngestionJob, Factor, UploadedFile
from carbon_domain.errors import ErrorKind, Refused
from carbon_domain.services.ingest.reference_reverts import reference_revert_file
from carbon_domain.services.inputs import factor_history as history
from carbon_domain.services.jobs.job_meta import job_config
from carbon_domain.upload_kinds import UploadKind

# What the factors were before J, by the change J made to them.
_LIVE_BEFORE = {history.UPDATED: True, history.RETIRED: True, history.INSERTED: False,
                history.REVIVED: False}


class RevertRefused(Refused):
    """Why this job cannot be reverted (not found, not a revertible job, or a conflict)."""


@dataclass(frozen=True, slots=True)
class RevertPlan:
    kind: str                      # the kind of the new upload: factors | data-entries |
    #                                stations | building-rooms | exchange-rates
    job_id: int                    # the upload reverted
    module_type_id: int | None     # None for reference data
    data_entry_type_id: int | None
    year: int | None               # None for reference data
    recalculate: bool              # as the reverted upload asked
    factors: int                   # factor rows of the restoring file (0 for entries)
    changes_undone: int            # history rows of the reverted upload
    filename: str
    content: bytes
    # Data entry types the revert empties (the reverted upload was the first of its scope:
    # its entries go, and nothing is loaded in their place); the content is then a header.
    clears: tuple[int, ...] = ()


_REVERTIBLE = (JobType.factor_ingest, JobType.csv_ingest, JobType.reference_ingest)


def _a(word: str) -> str:
    """'an emission_recalc', 'a factor_ingest', 'a unit_sync' (a "u" read "you")."""
    vowel = word[:1] in "aeio" or (word[:1] == "u" and not word.startswith(("uni", "use")))
    return ("an " if vowel else "a ") + word


def _job(session: Session, job_id: int) -> DataIngestionJob:
    job = session.get(DataIngestionJob, job_id)
    if job is None:
        raise RevertRefused(ErrorKind.NOT_FOUND, f"job {job_id} not found")
    if job.job_type not in _REVERTIBLE or job.upload_id is None:
        raise RevertRefused(ErrorKind.INVALID,
                            f"job {job_id} is {_a(job.job_type.value)} job: only factor "
                            "and data entry uploads, and reference uploads of stations,"
                            " building rooms or exchange rates, can be reverted")
    if job.state != JobState.FINISHED:
        raise RevertRefused(ErrorKind.CONFLICT,
                            f"job {job_id} is {job.state.value}: wait until it finished")
    if job.result == JobResult.ERROR:
        raise RevertRefused(ErrorKind.CONFLICT, f"job {job_id} ended in ERROR and changed nothing: "
                            "nothing to revert")
    return job


def _scope_uploads(job: DataIngestionJob) -> Any:
    """Uploads of the same kind, module and year as ``job`` whose type overlaps it (the same
    type, or either module-wide) and that may have written (not ERROR)."""
    q = select(DataIngestionJob).where(
        DataIngestionJob.job_type == job.job_type,
        DataIngestionJob.module_type_id == job.module_type_id,
        DataIngestionJob.year == job.year, DataIngestionJob.upload_id.is_not(None),
        or_(DataIngestionJob.result.is_(None), DataIngestionJob.result != JobResult.ERROR))
    if job.data_entry_type_id is not None:
        q = q.where(or_(DataIngestionJob.data_entry_type_id.is_(None),
                        DataIngestionJob.data_entry_type_id == job.data_entry_type_id))
    return q


def later_upload(session: Session, job: DataIngestionJob) -> DataIngestionJob | None:
    """The first upload after ``job`` of an overlapping scope (see ``_scope_uploads``) still
    in effect. An upload followed by its own finished revert (``reverts_job_id``) changed
    nothing in the end: the pair is passed over, innermost first (B, C, revert of C, revert
    of B), so the upload before them can be reverted in its turn."""
    in_effect: list[DataIngestionJob] = []
    for later in session.scalars(_scope_uploads(job).where(DataIngestionJob.id > job.id)
                                 .order_by(DataIngestionJob.id)):
        undone = job_config(later.meta).reverts_job_id
        if (in_effect and undone == in_effect[-1].id and later.state == JobState.FINISHED):
            in_effect.pop()
        else:
            in_effect.append(later)
    return in_effect[0] if in_effect else None


def _refuse_if_later(session: Session, job: DataIngestionJob) -> None:
    later = later_upload(session, job)
    if later is not None and job_config(later.meta).reverts_job_id == job.id \
            and later.state == JobState.FINISHED:
        raise RevertRefused(ErrorKind.CONFLICT,
                            f"job {job.id} was reverted already, by job {later.id}")
    if later is not None:
        what = "factor" if job.job_type == JobType.factor_ingest else "data entry"
        raise RevertRefused(ErrorKind.CONFLICT,
                            f"job {later.id} (a later {what} upload of the same module "
                            f"and year, by {later.created_by or 'unknown'}) changed them "
                            f"after job {job.id}: revert job {later.id} first")


def plan_revert(session: Session, job_id: int) -> RevertPlan:
    """What reverting upload ``job_id`` uploads: factors or data entries (RevertRefused when
    it cannot be reverted, with the HTTP status to answer)."""
    job = _job(session, job_id)
    if job.job_type == JobType.csv_ingest:
        return _plan_entries_revert(session, job)
    if job.job_type == JobType.reference_ingest:
        kind = str(job_config(job.meta).kind)
        content, changed = reference_revert_file(session, job, RevertRefused)
        return RevertPlan(kind, job.id, None, None, None, False, 0, changed,
                          f"revert-of-job-{job.id}.csv", content)
    return plan_factor_revert(session, job_id)


def _plan_entries_revert(session: Session, job: DataIngestionJob) -> RevertPlan:
    assert job.module_type_id is not None and job.year is not None  # entry uploads have them
    _refuse_if_later(session, job)
    prev = session.scalars(_scope_uploads(job).where(
        DataIngestionJob.id < job.id, DataIngestionJob.state == JobState.FINISHED)
        .order_by(DataIngestionJob.id.desc()).limit(1)).first()
    module = ModuleType(job.module_type_id)
    scope = (DataEntryType(job.data_entry_type_id).name if job.data_entry_type_id
             else f"module {module.name}")
    if prev is None:
        return _plan_first_entries_revert(job, module)
    if prev.upload_id is None:
        raise RevertRefused(ErrorKind.CONFLICT,
                            f"the entries before job {job.id} ({scope}, {job.year}) came"
                            f" from job {prev.id}, which kept no file: upload them again")
    if job.data_entry_type_id is None and prev.data_entry_type_id is not None:
        raise RevertRefused(ErrorKind.CONFLICT,
                            f"the entries before job {job.id} (module-wide) came from "
                            f"uploads of single types (the last: job {prev.id}): revert "
                            "cannot restore them from one file; upload them again")
    emptied = job_config(prev.meta).clears
    if emptied:  # the entries before this upload are none: prev was a first upload's revert
        loaded = (job.meta or {}).get("data_entry_type_ids") or []
        if not {int(d) for d in loaded} <= set(emptied):
            raise RevertRefused(ErrorKind.CONFLICT,
                                f"the entries before job {job.id} came partly from job"
                                f" {prev.id}, a revert that emptied"
                                f" {', '.join(DataEntryType(d).name for d in emptied)}:"
                                " revert cannot restore them from one file; upload them again")
        return _plan_first_entries_revert(job, module)
    upload = session.get(UploadedFile, prev.upload_id)
    if upload is None:
        raise RevertRefused(ErrorKind.CONFLICT,
                            f"the file of job {prev.id} (the entries before job "
                            f"{job.id}) is no longer stored")
    return RevertPlan(UploadKind.data_entries, job.id, module.value, job.data_entry_type_id,
                      job.year, True, 0, 0, f"revert-of-job-{job.id}.csv", upload.content)


def _plan_first_entries_revert(job: DataIngestionJob, module: ModuleType) -> RevertPlan:
    """The revert of an entry upload whose types had no CSV entry of the year before it (it
    was the scope's first upload, or came after a revert that emptied them; a later upload
    is refused first), so the revert empties them: a header-only file whose job carries
    ``clears`` (the ingest then deletes those types' CSV entries; manual entries stay, as
    with any upload)."""
    assert job.year is not None
    dets = sorted(int(d) for d in (job.meta or {}).get("data_entry_type_ids") or [])
    if not dets:
        raise RevertRefused(ErrorKind.CONFLICT,
                            f"job {job.id} loaded no entries: nothing to revert")
    det = DataEntryType(job.data_entry_type_id) if job.data_entry_type_id else None
    return RevertPlan(UploadKind.data_entries, job.id, module.value, job.data_entry_type_id,
                      job.year, True, 0, 0, f"revert-of-job-{job.id}.csv",
                      entry_header_file(module, det, dets), clears=tuple(dets))


def entry_header_file(module: ModuleType, det: DataEntryType | None, dets: list[int]) -> bytes:
    """A header-only data entry file of this scope, naming every column of ``dets``."""
    columns = ["data_entry_type"] if needs_routing(module, det) else []
    columns.append(UNIT_COLUMN)
    for d in dets:
        columns += [c for c in entry_columns(d) if c not in columns]
    problem = entry_header_problem(module, det, columns)
    assert problem is None, problem  # the columns come from the schemas the check reads
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(columns)
    return out.getvalue().encode()


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
    if job.job_type != JobType.factor_ingest:
        raise RevertRefused(ErrorKind.INVALID, f"job {job_id} is not a factor upload")
    _refuse_if_later(session, job)
    dets = sorted(int(d) for d in (job.meta or {}).get("data_entry_type_ids") or [])
    if not dets:
        raise RevertRefused(ErrorKind.CONFLICT, f"job {job_id} wrote no factor: nothing to revert")
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
        raise RevertRefused(ErrorKind.CONFLICT, f"job {job_id} created the first factors of "
                            f"{', '.join(empty)} for {job.year}: a revert would have to "
                            "retire them all, which an upload cannot express")
    module = ModuleType(job.module_type_id)
    routed = job.data_entry_type_id is None and len(MODULE_DATA_ENTRY_TYPES[module]) > 1
    return RevertPlan(UploadKind.factors, job_id, module.value, job.data_entry_type_id, job.year,
                      job_config(job.meta).recalculate, len(rows), len(touched),
                      f"revert-of-job-{job_id}.csv", _csv(dets, routed, rows))
