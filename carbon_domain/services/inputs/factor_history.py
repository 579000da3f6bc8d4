"""The history of every factor: one append-only row per change, written with the change.

Every factor write path calls in here inside its own transaction (``services/inputs/factors.py``
for uploads, both dialects; ``services/recalc/facilities.py`` for computed facility values), so a
factor and its history cannot disagree. No database trigger: the PostgreSQL upload path is a
COPY into a staging table, and the history of that path is written from the same staged
rows by the statements below.

Changes: ``inserted`` (before NULL), ``updated`` (values changed), ``retired`` and
``revived`` (with the values before and after), ``computed`` (a facility refresh rewrote
computed values), ``recorded`` (the state found when history started, migration 0012).
A factor's version is the number of its history rows up to and including a change.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from carbon_domain.db.history_models import FactorHistory
from carbon_domain.db.models import DataIngestionJob, Factor
from carbon_domain.json_types import JsonLike, JsonObject
from carbon_domain.services.inputs.factor_listing import FactorItem, factor_item

INSERTED, UPDATED, RETIRED, REVIVED = "inserted", "updated", "retired", "revived"
COMPUTED, RECORDED = "computed", "recorded"
CHANGES = (INSERTED, UPDATED, RETIRED, REVIVED, COMPUTED, RECORDED)
_BATCH = 2_000
_ID_BATCH = 5_000

# (factor id, change, values before, values after)
Change = tuple[int, str, JsonLike | None, JsonLike | None]


def job_author(session: Session, job_id: int | None) -> str | None:
    """Who started the job (its ``created_by``): the "who" of the changes it writes."""
    if job_id is None:
        return None
    return session.scalar(select(DataIngestionJob.created_by).where(
        DataIngestionJob.id == job_id))


def record(session: Session, job_id: int | None, who: str | None,
           changes: Iterable[Change]) -> int:
    """Append the given changes (executemany in batches); the number written."""
    rows = [{"factor_id": fid, "job_id": job_id, "change": change, "values_before": before,
             "values_after": after, "changed_by": who} for fid, change, before, after in changes]
    for i in range(0, len(rows), _BATCH):
        session.execute(insert(FactorHistory), rows[i:i + _BATCH])
    return len(rows)


def record_retirements(session: Session, job_id: int | None, who: str | None,
                       factor_ids: Sequence[int]) -> None:
    """One ``retired`` row per factor, its values unchanged (before = after), read by the
    INSERT … SELECT itself: called just before the retiring UPDATE."""
    for i in range(0, len(factor_ids), _ID_BATCH):
        ids = factor_ids[i:i + _ID_BATCH]
        session.execute(insert(FactorHistory).from_select(
            ["factor_id", "job_id", "change", "values_before", "values_after", "changed_by"],
            select(Factor.id, literal(job_id, FactorHistory.job_id.type), literal(RETIRED),
                   Factor.values, Factor.values, literal(who, FactorHistory.changed_by.type))
            .where(Factor.id.in_(ids)).order_by(Factor.id)))


# -- PostgreSQL upload path: the staged rows (services/inputs/factors.py) -------------------------
# factor_stage_h (det, et, ckey, vals, fid, old, was_retired): fid/old/was_retired are filled
# from the existing factor before the upsert; the history is written from them.
PG_CHANGED = (
    "INSERT INTO factor_history (factor_id, job_id, change, values_before, values_after,"
    " changed_by) SELECT fid, :job, CASE WHEN was_retired THEN 'revived' ELSE 'updated' END,"
    " old, vals, :who FROM factor_stage_h WHERE fid IS NOT NULL"
    " AND (was_retired OR old IS DISTINCT FROM vals) ORDER BY fid")
PG_INSERTED = (
    "INSERT INTO factor_history (factor_id, job_id, change, values_before, values_after,"
    " changed_by) SELECT f.id, :job, 'inserted', NULL, s.vals, :who FROM factor_stage_h s"
    " JOIN factors f ON f.data_entry_type_id = s.det AND f.emission_type_id = s.et"
    " AND f.classification_key = s.ckey AND f.year IS NOT DISTINCT FROM CAST(:year AS integer)"
    " WHERE s.fid IS NULL ORDER BY f.id")


# -- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FactorChange:
    version: int
    change: str
    job_id: int | None
    changed_by: str | None
    changed_at: datetime
    values_before: JsonObject | None
    values_after: JsonObject | None
    changed_keys: list[str]  # value keys whose value differs between before and after


@dataclass(frozen=True, slots=True)
class FactorVersion:
    """Which version of a factor was in force at some moment, and the upload that set it."""

    factor_id: int
    version: int
    change: str
    job_id: int | None
    changed_by: str | None
    changed_at: datetime


def _changed_keys(before: Mapping[str, object] | None, after: Mapping[str, object] | None
                  ) -> list[str]:
    b, a = before or {}, after or {}
    return sorted(k for k in set(b) | set(a) if b.get(k) != a.get(k))


def factor_changes(session: Session, factor_id: int) -> list[FactorChange]:
    """The timeline of one factor, oldest first, numbered from version 1."""
    rows = session.execute(select(
        FactorHistory.change, FactorHistory.job_id, FactorHistory.changed_by,
        FactorHistory.changed_at, FactorHistory.values_before, FactorHistory.values_after)
        .where(FactorHistory.factor_id == factor_id).order_by(FactorHistory.id))
    out = []
    for n, (change, job, who, at, before, after) in enumerate(rows, start=1):
        diff = [] if change in (RETIRED, RECORDED) else _changed_keys(before, after)
        out.append(FactorChange(n, change, job, who, at, before, after, diff))
    return out


@dataclass(frozen=True, slots=True)
class FactorTimeline:
    factor: FactorItem
    changes: list[FactorChange]


def factor_timeline(session: Session, factor_id: int) -> FactorTimeline | None:
    """A factor as it is now and every change it went through; None: no such factor."""
    f = session.get(Factor, factor_id)
    if f is None:
        return None
    return FactorTimeline(factor_item(f), factor_changes(session, factor_id))


def versions_at(session: Session, factor_ids: Collection[int], when: datetime | None = None
                ) -> dict[int, FactorVersion]:
    """For each factor, its latest change at or before ``when`` (None: its current version).
    A factor with no history row yet is absent from the answer."""
    if not factor_ids:
        return {}
    n = func.row_number().over(partition_by=FactorHistory.factor_id,
                               order_by=FactorHistory.id).label("n")
    numbered = select(FactorHistory.factor_id, FactorHistory.id, FactorHistory.change,
                      FactorHistory.job_id, FactorHistory.changed_by,
                      FactorHistory.changed_at, n).where(
        FactorHistory.factor_id.in_(sorted(set(factor_ids)))).subquery()
    q = select(numbered)
    if when is not None:
        q = q.where(numbered.c.changed_at <= when)
    out: dict[int, FactorVersion] = {}
    for fid, _hid, change, job, who, at, version in session.execute(q.order_by(numbered.c.id)):
        out[fid] = FactorVersion(fid, int(version), change, job, who, at)
    return out
