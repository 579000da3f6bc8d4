"""How many entries of a (type, year) slice have no emission rows after a recalculation,
and why: no matching factor, or they could not be computed (an error: a non-finite result,
a bad value).

A recalculation's own counts (``meta.recalculation.missing_factors`` and ``errors``) cover
the entries it rewrote: the whole slice for a full run, only the entries a change can affect
for an incremental one (services/recalc/affected.py). So the finish also records the
slice's figures — ``slice_entries``, ``slice_missing_factors`` (no factor) and
``slice_errors`` (could not be computed) — the same two facts for both kinds of run:

- a full run: its own counts, and the ids of its errors (``slice_error_ids``);
- an incremental run: the slice's entries without a row are its base's (the last good
  recalculation it started from) plus what its chunks changed — each in-place chunk records
  in its partial sums, per report module, how many of its entries have no row now minus how
  many had none before (``chunk_sums``, pseudo emission type MISSING); the slice's errors
  are the base's error ids it did not rewrite plus the errors its chunks found (each chunk
  keeps its error ids: ``recalc_chunk._record``), still in the slice; the entries without
  a factor are the rest.

No figure (an empty dict) when a link of the chain is older than the record or kept more
than :data:`MAX_ERROR_IDS` errors: the status then reads the run's own counts.

The status reads the figures of the last good recalculation (``entries_without_factor``,
``entries_not_computed``): such a type is incomplete, whatever the result of the job, whose
rules stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain.db.models import DataEntry, RecalcChunk
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.json_types import JsonObject, JsonValue
from carbon_domain.services.jobs.job_meta import JobConfig
from carbon_domain.services.recalc.chunk_sums import MISSING

ENTRIES_KEY, MISSING_KEY = "slice_entries", "slice_missing_factors"
ERRORS_KEY, ERROR_IDS_KEY = "slice_errors", "slice_error_ids"
#: Error ids kept per chunk and per slice: errors are exceptional; past this the figures
#: of the next incremental runs are unknown (their own counts are shown).
MAX_ERROR_IDS = 1000


def slice_figures(session: Session, job_id: int, config: JobConfig, entries: int,
                  missing: int, errors: int = 0, error_ids: list[int] | None = None
                  ) -> JsonObject:
    """The slice's figures after recalculation ``job_id``, whose chunks counted
    ``entries``, ``missing`` (no factor) and ``errors`` (could not be computed, with their
    ``error_ids`` when all were kept); {} when its base recorded none."""
    scope = config.scope
    if scope is None or not scope.incremental:
        out: JsonObject = {ENTRIES_KEY: entries, MISSING_KEY: missing, ERRORS_KEY: errors}
        if error_ids is not None and len(error_ids) <= MAX_ERROR_IDS:
            out[ERROR_IDS_KEY] = _ids(error_ids)
        return out
    base_id = (scope.model_extra or {}).get("base_job_id")
    if base_id is None or error_ids is None:
        return {}
    row = session.execute(select(Job.meta["recalculation"],
                                 Job.meta["config"]["scope"]["incremental"].as_boolean())
                          .where(Job.id == int(base_id))).first()
    base = _base_figures(row[0], row[1]) if row is not None else None
    if base is None:
        return {}
    delta = 0
    rewritten: set[int] = set()
    for partials, ids in session.execute(select(RecalcChunk.partials, RecalcChunk.entry_ids)
                                         .where(RecalcChunk.job_id == job_id)):
        if not isinstance(partials, dict) or partials.get("mode") != "delta":
            return {}
        delta += sum(int(cell[3]) for cell in partials.get("sums", [])
                     if int(cell[1]) == MISSING)
        rewritten.update(int(i) for i in ids or ())
    total, before, base_errors = base
    without_rows = min(total, max(0, before + delta))
    kept = {e for e in base_errors if e not in rewritten} | set(error_ids)
    if kept:  # still in the slice (an entry deleted since has no row to miss)
        kept = set(session.scalars(select(DataEntry.id).where(DataEntry.id.in_(sorted(kept)))))
    if len(kept) > MAX_ERROR_IDS:
        return {}
    return {ENTRIES_KEY: total, MISSING_KEY: max(0, without_rows - len(kept)),
            ERRORS_KEY: len(kept), ERROR_IDS_KEY: _ids(kept)}


def _ids(ids: Any) -> list[JsonValue]:
    return [int(i) for i in sorted(ids)]


def _base_figures(recalculation: Any, incremental: bool | None
                  ) -> tuple[int, int, list[int]] | None:
    """(entries, entries without a row, error ids) of the slice after the base run."""
    if not isinstance(recalculation, Mapping):
        return None
    if ERROR_IDS_KEY in recalculation:
        ids = [int(i) for i in recalculation[ERROR_IDS_KEY]]
        return (int(recalculation[ENTRIES_KEY]),
                int(recalculation[MISSING_KEY]) + len(ids), ids)
    if incremental is False and not recalculation.get("errors"):
        # A full run from before the record without errors: every entry without a row
        # lacked a factor.
        n = recalculation.get(MISSING_KEY, recalculation.get("missing_factors", 0))
        return int(recalculation.get(ENTRIES_KEY, recalculation.get("entries", 0))), int(n), []
    return None


def entries_without_factor(recalculation: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """(entries without a matching factor, entries) of the slice after the good
    recalculation whose ``meta.recalculation`` this is: the slice's figures it recorded,
    else (a run from before the record) its own counts; None before any run."""
    if not recalculation:
        return None
    if MISSING_KEY in recalculation:
        return int(recalculation[MISSING_KEY]), int(recalculation[ENTRIES_KEY])
    if "missing_factors" not in recalculation:
        return None
    return int(recalculation["missing_factors"] or 0), int(recalculation.get("entries") or 0)


def entries_not_computed(recalculation: Mapping[str, Any] | None) -> int | None:
    """Entries of the slice that could not be computed (errors: no rows, not in the totals)
    after the good recalculation whose ``meta.recalculation`` this is: the slice's figure it
    recorded, else its own count; None before any run."""
    if not recalculation:
        return None
    if ERRORS_KEY in recalculation:
        return int(recalculation[ERRORS_KEY])
    if "errors" not in recalculation:
        return None
    return int(recalculation["errors"] or 0)
