"""How many entries of a (type, year) slice have no matching factor after a recalculation.

A recalculation's own count (``meta.recalculation.missing_factors``) covers the entries it
rewrote: the whole slice for a full run, only the entries a change can affect for an
incremental one (services/recalc/affected.py). So the finish also records the slice's
figures, ``slice_entries`` and ``slice_missing_factors``: a full run's own counts; an
incremental run's are its base's (the last good recalculation it started from) plus what its
chunks changed — each in-place chunk records in its partial sums, per report module, how
many of its entries have no row now minus how many had none before (``chunk_sums``,
pseudo emission type MISSING). Exact as long as an entry does not turn from an error (no row
either) into a missing factor or back between two runs. No figure (an empty dict) when a
link of the chain is older than the record.

The status reads the figures of the last good recalculation (``entries_without_factor``):
such a type is incomplete, whatever the result of the job, whose rules stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import RecalcChunk
from carbon_domain.json_types import JsonObject
from carbon_domain.services.jobs.job_meta import JobConfig
from carbon_domain.services.recalc.chunk_sums import MISSING

ENTRIES_KEY, MISSING_KEY = "slice_entries", "slice_missing_factors"


def slice_figures(session: Session, job_id: int, config: JobConfig, entries: int,
                  missing: int) -> JsonObject:
    """``{slice_entries, slice_missing_factors}`` after recalculation ``job_id``, whose chunks
    counted ``entries`` and ``missing``; {} when its base recorded none."""
    scope = config.scope
    if scope is None or not scope.incremental:
        return {ENTRIES_KEY: entries, MISSING_KEY: missing}
    base_id = (scope.model_extra or {}).get("base_job_id")
    if base_id is None:
        return {}
    row = session.execute(select(Job.meta["recalculation"],
                                 Job.meta["config"]["scope"]["incremental"].as_boolean())
                          .where(Job.id == int(base_id))).first()
    base = _base_figures(row[0], row[1]) if row is not None else None
    if base is None:
        return {}
    delta = 0
    for (partials,) in session.execute(select(RecalcChunk.partials).where(
            RecalcChunk.job_id == job_id)):
        if not isinstance(partials, dict) or partials.get("mode") != "delta":
            return {}
        delta += sum(int(cell[3]) for cell in partials.get("sums", [])
                     if int(cell[1]) == MISSING)
    total, before = base
    return {ENTRIES_KEY: total, MISSING_KEY: min(total, max(0, before + delta))}


def _base_figures(recalculation: Any, incremental: bool | None) -> tuple[int, int] | None:
    if not isinstance(recalculation, Mapping):
        return None
    if MISSING_KEY in recalculation:
        return int(recalculation[ENTRIES_KEY]), int(recalculation[MISSING_KEY])
    if incremental is False:  # a full run from before the record: its counts are the slice's
        return int(recalculation.get("entries", 0)), int(recalculation.get("missing_factors", 0))
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
