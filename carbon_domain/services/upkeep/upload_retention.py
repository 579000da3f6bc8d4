"""Retention of stored uploads (the CSV bytes kept in ``uploaded_files``).

Uploads are kept so any worker can read them while their job runs, and afterwards as the
record of what was loaded. They are not needed to recompute anything (the entries and factors
they produced live in their own tables), so a deployment bounds them: an upload is purged
once it is older than ``max_age_days`` or when ``keep_per_scope`` newer uploads of the same
scope exist. A scope is what the upload loaded: (job type, module, data entry type, year) of
the job that read it; an upload no job references is bounded by age only. An upload that an
active job (not started, queued or running) still needs is never purged. A purged upload's
jobs keep their history (``upload_id`` becomes NULL).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import JobState
from carbon_domain.db.models import DataIngestionJob, UploadedFile

Scope = tuple[str, int | None, int | None, int | None]
_ACTIVE = (JobState.NOT_STARTED, JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    purged: int
    purged_bytes: int
    kept: int
    by_age: int
    by_count: int


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=utcnow().tzinfo)


def purge_uploads(session: Session, *, max_age_days: int, keep_per_scope: int,
                  now: datetime | None = None) -> PurgeResult:
    """Delete the uploads beyond the retention (0 turns a rule off); returns what it did."""
    now = now or utcnow()
    files = session.execute(select(UploadedFile.id, UploadedFile.created_at,
                                   UploadedFile.size)).all()
    scope_of: dict[int, Scope] = {}
    needed: set[int] = set()
    for upload_id, job_type, module, det, year, state in session.execute(
            select(DataIngestionJob.upload_id, DataIngestionJob.job_type,
                   DataIngestionJob.module_type_id, DataIngestionJob.data_entry_type_id,
                   DataIngestionJob.year, DataIngestionJob.state)
            .where(DataIngestionJob.upload_id.is_not(None))
            .order_by(DataIngestionJob.id)):
        if upload_id is None:
            continue
        scope_of[upload_id] = (str(job_type), module, det, year)  # the latest job wins
        if state in _ACTIVE:
            needed.add(upload_id)
    by_age: set[int] = set()
    if max_age_days > 0:
        cutoff = now - timedelta(days=max_age_days)
        by_age = {fid for fid, created, _ in files if _aware(created) < cutoff}
    by_count: set[int] = set()
    if keep_per_scope > 0:
        scoped: dict[Scope, list[tuple[datetime, int]]] = defaultdict(list)
        for fid, created, _ in files:
            if fid in scope_of:
                scoped[scope_of[fid]].append((_aware(created), fid))
        for members in scoped.values():
            members.sort(reverse=True)  # newest first (ids break ties)
            by_count.update(fid for _, fid in members[keep_per_scope:])
    doomed = (by_age | by_count) - needed
    size = {fid: int(n) for fid, _, n in files}
    ids = sorted(doomed)
    for start in range(0, len(ids), 500):
        session.execute(delete(UploadedFile).where(UploadedFile.id.in_(ids[start:start + 500])))
    return PurgeResult(purged=len(ids), purged_bytes=sum(size[i] for i in ids),
                       kept=len(files) - len(ids), by_age=len(by_age - needed),
                       by_count=len(by_count - needed))
