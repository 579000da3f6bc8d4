"""Factor persistence: a factor upload is the factor set of its scope (docs/design.md §2).

File factors are inserted or updated in place (ids of existing identities never change, so
entry links and emission rows survive); live factors of the scope that the file does not
contain are *retired* — never deleted (entries and emission rows link to them), never
matched again (:func:`load_factor_records` skips them) — and a later file containing a
retired identity revives it under the same id. ``changed_by_job_id`` is the last upload that
inserted, changed the values of, retired or revived a factor; an unchanged row keeps it.
Each of those changes also appends a row to the factor's history (``factor_history``), in
the same transaction, on both dialects' paths.
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from carbon_domain.csv_rows import classification_key
from carbon_domain.db import bulk
from carbon_domain.db.base import utcnow
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.models import Factor
from carbon_domain.json_types import JsonLike
from carbon_domain.matching import FactorRecord
from carbon_domain.services.inputs import factor_history as history
from carbon_domain.services.jobs.job_meta import FACTOR_CHANGE_KEYS

FactorRow = tuple[int, int, JsonLike, JsonLike]  # det, emission type, classification, values
Identity = tuple[int, int, str]  # det, emission type, classification key
_Seen = dict[Identity, JsonLike]  # identity → values
_BATCH = 2_000
# Ids per UPDATE … WHERE id IN (…): below SQLite's 32,766 bound-parameter limit.
_ID_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class FactorSetResult:
    """What one upload did to the factors of its scope."""

    factors: int      # distinct factor identities in the file
    inserted: int
    updated: int      # values changed
    unchanged: int
    revived: int      # retired before, in the file again (same id)
    retired: int      # live before, absent from the file

    def meta(self) -> dict[str, int]:
        changes = dict(zip(FACTOR_CHANGE_KEYS, (self.inserted, self.updated, self.revived,
                                                self.retired), strict=True))
        return {**changes, "factors_unchanged": self.unchanged}

    def summary(self) -> str:
        """e.g. ``11 factors: 3 inserted, 2 updated, 6 unchanged, 1 retired``."""
        out = (f"{self.factors} factors: {self.inserted} inserted, {self.updated} updated,"
               f" {self.unchanged} unchanged")
        if self.revived:
            out += f", {self.revived} revived"
        return out + f", {self.retired} retired"


def _dedupe(rows: Iterable[FactorRow]) -> _Seen:
    seen: _Seen = {}
    for det, et, classification, values in rows:
        # Rows that repeat a factor keep the last one, as an upsert would. An upload's
        # ingest has already kept only that row and reported the others as skipped
        # (RowReport.keep_last); other callers get the same rule.
        seen[(int(det), int(et), classification_key(classification))] = values
    return seen


def write_factor_set(session: Session, *, year: int | None, job_id: int | None,
                     rows: Iterable[FactorRow], scope_dets: Collection[int] | None,
                     keep: Collection[Identity] = ()) -> FactorSetResult:
    """Upsert ``rows`` in place; with ``scope_dets`` (replace mode) retire every live factor
    of those types and ``year`` that the file does not contain, except the identities in
    ``keep`` (rows of the file that were rejected: a typo must not retire a factor).
    ``scope_dets=None`` is merge mode: nothing is retired.

    The caller holds the (module, year) factor lock, so the counts read before the write
    stay true until commit.
    """
    seen = _dedupe(rows)
    who = history.job_author(session, job_id)
    if dialect_of(session).staged_upsert:
        counts = _upsert_postgres(session, year, job_id, who, seen)
    else:
        counts = _upsert_generic(session, year, job_id, who, seen)
    retired = 0
    if scope_dets:
        retired = _retire_absent(session, year, job_id, who, scope_dets,
                                 set(seen) | set(keep))
    inserted, updated, unchanged, revived = counts
    return FactorSetResult(len(seen), inserted, updated, unchanged, revived, retired)


def upsert_factor_rows(session: Session, *, year: int | None, job_id: int | None,
                       rows: Iterable[FactorRow]) -> int:
    """Merge mode (nothing retired); the number of distinct factors written."""
    return write_factor_set(session, year=year, job_id=job_id, rows=rows,
                            scope_dets=None).factors


# -- PostgreSQL: COPY into a staging table, classify with one join, one INSERT … ON CONFLICT --
_CHANGED = ("factors.\"values\" IS DISTINCT FROM EXCLUDED.\"values\""
            " OR factors.retired_at IS NOT NULL")


def _upsert_postgres(session: Session, year: int | None, job_id: int | None, who: str | None,
                     seen: _Seen) -> tuple[int, int, int, int]:
    """25k factors in about a second (statement-per-batch inserts through the ORM took
    ~15 s). The classification join runs before the upsert, on the same staged rows: it
    stores each row's existing factor (id, values, retired?) in the stage, which the counts
    and the history rows are read from."""
    buf = io.StringIO()
    for (det, et, key), values in seen.items():
        vals = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
        buf.write(f"{det}\t{et}\t{bulk.copy_escape(key)}\t{bulk.copy_escape(vals)}\n")
    buf.seek(0)
    # factor_stage_h: the staged rows and their existing factor (a new name, so a pooled
    # connection's temp table of the older shape is never reused).
    session.execute(text(
        "CREATE TEMP TABLE IF NOT EXISTS factor_stage_h (det int, et int, ckey text, vals jsonb,"
        " fid int, old jsonb, was_retired boolean) ON COMMIT DELETE ROWS"))
    bulk.copy_from(session, "COPY factor_stage_h (det, et, ckey, vals) FROM STDIN", buf)
    session.execute(text(
        "UPDATE factor_stage_h s SET fid = f.id, old = f.\"values\","
        " was_retired = f.retired_at IS NOT NULL FROM factors f"
        " WHERE f.data_entry_type_id = s.det AND f.emission_type_id = s.et"
        " AND f.classification_key = s.ckey"
        " AND f.year IS NOT DISTINCT FROM CAST(:year AS integer)"), {"year": year})
    inserted, revived, updated, unchanged = session.execute(text(
        "SELECT count(*) FILTER (WHERE fid IS NULL), count(*) FILTER (WHERE was_retired),"
        " count(*) FILTER (WHERE NOT was_retired AND old <> vals),"
        " count(*) FILTER (WHERE NOT was_retired AND old = vals) FROM factor_stage_h")).one()
    params = {"year": year, "job": job_id, "who": who}
    session.execute(text(history.PG_CHANGED), params)
    session.execute(text(
        "INSERT INTO factors (data_entry_type_id, emission_type_id, year, classification,"
        " classification_key, \"values\", last_seen_job_id, changed_by_job_id, updated_at)"
        " SELECT det, et, :year, CAST(ckey AS jsonb), ckey, vals, :job, :job, CURRENT_TIMESTAMP"
        " FROM factor_stage_h"
        " ON CONFLICT (data_entry_type_id, year, emission_type_id, classification_key)"
        " DO UPDATE SET \"values\" = EXCLUDED.\"values\","
        " classification = EXCLUDED.classification,"
        " last_seen_job_id = EXCLUDED.last_seen_job_id,"
        f" changed_by_job_id = CASE WHEN {_CHANGED} THEN EXCLUDED.changed_by_job_id"
        " ELSE factors.changed_by_job_id END,"
        f" updated_at = CASE WHEN {_CHANGED} THEN CURRENT_TIMESTAMP ELSE factors.updated_at END,"
        " retired_at = NULL, retired_by_job_id = NULL"),
        {"year": year, "job": job_id})
    session.execute(text(history.PG_INSERTED), params)
    session.execute(text("TRUNCATE factor_stage_h"))
    return int(inserted), int(updated), int(unchanged), int(revived)



# -- SQLite (embedded default): classify in Python, then batched writes ----------------------
def _upsert_generic(session: Session, year: int | None, job_id: int | None, who: str | None,
                    seen: _Seen) -> tuple[int, int, int, int]:
    dets = sorted({det for det, _et, _key in seen})
    existing = {(d, et, key): (fid, values, retired_at) for fid, d, et, key, values, retired_at
                in session.execute(select(
                    Factor.id, Factor.data_entry_type_id, Factor.emission_type_id,
                    Factor.classification_key, Factor.values, Factor.retired_at).where(
                    Factor.data_entry_type_id.in_(dets),
                    Factor.year.is_not_distinct_from(year)))}
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    same: list[int] = []
    log: list[history.Change] = []
    revived = 0
    for (det, et, key), values in seen.items():
        old = existing.get((det, et, key))
        if old is None:
            new.append({"data_entry_type_id": det, "emission_type_id": et, "year": year,
                        "classification": json.loads(key), "classification_key": key,
                        "values": values, "last_seen_job_id": job_id,
                        "changed_by_job_id": job_id})
        elif old[2] is not None or old[1] != values:
            revived += old[2] is not None
            changed.append({"fid": old[0], "values": values})
            log.append((old[0], history.REVIVED if old[2] is not None else history.UPDATED,
                        old[1], values))
        else:
            same.append(old[0])
    for i in range(0, len(new), _BATCH):
        session.execute(sqlite_insert(Factor).values(new[i:i + _BATCH]))
    if new:
        added = {(r["data_entry_type_id"], r["emission_type_id"], r["classification_key"])
                 for r in new}
        log.extend((fid, history.INSERTED, None, seen[(d, et, key)]) for fid, d, et, key
                   in session.execute(select(
                       Factor.id, Factor.data_entry_type_id, Factor.emission_type_id,
                       Factor.classification_key).where(
                       Factor.data_entry_type_id.in_(dets),
                       Factor.year.is_not_distinct_from(year)).order_by(Factor.id))
                   if (d, et, key) in added)
    history.record(session, job_id, who, sorted(log, key=lambda c: c[0]))
    now = utcnow()
    for row in changed:
        session.execute(update(Factor).where(Factor.id == row["fid"]).values(
            values=row["values"], last_seen_job_id=job_id, changed_by_job_id=job_id,
            updated_at=now, retired_at=None, retired_by_job_id=None))
    for i in range(0, len(same), _ID_BATCH):
        session.execute(update(Factor).where(Factor.id.in_(same[i:i + _ID_BATCH])).values(
            last_seen_job_id=job_id))
    return len(new), len(changed) - revived, len(same), revived


# -- retirement (both dialects) --------------------------------------------------------------
def _retire_absent(session: Session, year: int | None, job_id: int | None, who: str | None,
                   dets: Collection[int], present: set[Identity]) -> int:
    live = session.execute(select(
        Factor.id, Factor.data_entry_type_id, Factor.emission_type_id,
        Factor.classification_key).where(
        Factor.data_entry_type_id.in_(sorted(set(dets))), Factor.year.is_not_distinct_from(year),
        Factor.retired_at.is_(None)))
    ids = [fid for fid, det, et, key in live if (det, et, key) not in present]
    history.record_retirements(session, job_id, who, sorted(ids))
    now = utcnow()
    for i in range(0, len(ids), _ID_BATCH):
        session.execute(update(Factor).where(Factor.id.in_(ids[i:i + _ID_BATCH])).values(
            retired_at=now, retired_by_job_id=job_id, changed_by_job_id=job_id,
            updated_at=now))
    return len(ids)


# -- loading for matching and computation ----------------------------------------------------
def load_factor_records(session: Session, det: int, year: int) -> list[FactorRecord]:
    """Every LIVE factor of one (data entry type, year): (id, emission type, classification,
    values). Retired factors are never matched again, so they are not loaded."""
    q = select(Factor.id, Factor.emission_type_id, Factor.classification, Factor.values).where(
        Factor.data_entry_type_id == det, Factor.year == year, Factor.retired_at.is_(None)
    ).order_by(Factor.id)
    return [FactorRecord(*r) for r in session.execute(q)]


def factor_fingerprint(session: Session, det: int, year: int) -> tuple[Any, ...]:
    """Changes whenever the live factor set of (det, year) may have changed: every write
    (insert, value change, retirement, revival, facility refresh) moves ``updated_at``, and
    uploads also move ``changed_by_job_id`` (SQLite's CURRENT_TIMESTAMP has 1 s resolution)."""
    return tuple(session.execute(
        select(func.count(), func.count(Factor.retired_at), func.max(Factor.id),
               func.max(Factor.updated_at), func.max(Factor.changed_by_job_id))
        .where(Factor.data_entry_type_id == det, Factor.year == year)).one())
