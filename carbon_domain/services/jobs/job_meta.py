"""The ``meta`` JSON of jobs and pipelines: what stays in it, validated and typed.

Since migration 0009 the keys that steer the pipeline are columns and link tables, not JSON
(``services/jobs/job_links.py``): a job's ``covers_input_job_id`` and ``rerun_job_id`` are
columns; a module-level job's per-type jobs (``config.job_ids`` / ``joined_job_ids``), the
jobs a pipeline joined (``linked_job_ids``) and the aggregations it awaits
(``awaits_aggregation``) are rows of db/link_models.py. :func:`updated` refuses them, so no
code path writes one back into JSON.

What stays: the job ``config`` (what the operator asked for: ``recalculate``, ``mode``,
``kind``, ``only_stale``, ``full``; ``position``, "type i of n" in progress messages; what a
recalculation's plan recorded for the next one to compare against: ``inputs_watermark``,
``factor_count``, ``factor_max_id``, ``scope``; and for the staleness status, which inputs
it read: ``inputs_read``) and reports that only people read (row
errors, recalculation counts, abort notes), free-form (``extra="allow"``). Code reads the
config through :func:`job_config`, never as raw JSON.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from carbon_domain.json_types import JsonObject, JsonValue
from carbon_domain.upload_kinds import UploadKind, UploadMode

Meta = JsonObject | None

# What a factor upload changed, counted in its meta (inputs/factors.py writes them); a
# factor upload with all four at 0 is no newer input (jobs.CHANGED_INPUT).
FACTOR_CHANGE_KEYS = ("factors_inserted", "factors_updated", "factors_revived",
                      "factors_retired")

# Stored outside meta since 0009 (the API still shows them inside it: job_links.api_meta).
MOVED_KEYS = frozenset({"covers_input_job_id", "rerun_job_id", "job_ids", "joined_job_ids",
                        "linked_job_ids", "awaits_aggregation"})


class PlannedScope(BaseModel):
    """What a recalculation's plan decided (``affected.Scope.describe``)."""

    model_config = ConfigDict(extra="allow")

    incremental: bool | None = None  # None: planned before the scope was recorded


class InputsRead(BaseModel):
    """The input jobs a recalculation's plan read (services/recalc/inputs_read.py): every
    input job of its slice with an id up to ``upto`` except ``pending``, the ones below
    ``upto`` that had not landed (finished) yet when the plan read."""

    upto: int = 0
    pending: list[int] = Field(default_factory=list)


class JobConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    recalculate: bool = False
    mode: UploadMode | None = None
    kind: UploadKind | None = None
    position: tuple[int, int] = (1, 1)
    # A module-level recalculation: only the stale types (False: all were asked for).
    only_stale: bool = True
    # Recalculate the whole slice even when an incremental run would do.
    full: bool = False
    # Recorded by the plan (affected.plan_marks): the highest finished input job id it saw,
    # the slice's factor count and highest factor id. None / -1 / 0: not recorded.
    inputs_watermark: int | None = None
    factor_count: int = -1
    factor_max_id: int = 0
    scope: PlannedScope | None = None
    # Recorded by the plan for the staleness status; None: planned before the record.
    inputs_read: InputsRead | None = None
    # The stage table a full recalculation's chunks fill and its finish swaps in as the
    # slice's rows (PostgreSQL, db/emission_partitions.py); None: rows rewritten in place.
    stage: str | None = None
    # The stage had its entry index from its creation (a small slice): each chunk records
    # its own sums through it, so nothing is left to do after the last chunk but the swap.
    stage_indexed: bool = False
    # A data entry upload that empties these types' CSV entries of its year when it has no
    # row of them: only the revert of a scope's first upload sets it (there is no earlier
    # file to load again, and a header-only file is refused everywhere else).
    clears: list[int] = Field(default_factory=list)
    # A revert's upload: the upload it undoes (services/ingest/reverts.py). That upload and
    # this one, once finished, changed nothing in the end: an earlier upload of the scope can
    # be reverted past them.
    reverts_job_id: int | None = None


class JobMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    config: JobConfig = Field(default_factory=JobConfig)


class PipelineMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    aborted_by: str | None = None


def job_meta(meta: Meta) -> JobMeta:
    return JobMeta.model_validate(meta or {})


def job_config(meta: Meta) -> JobConfig:
    return job_meta(meta).config


def config_with(meta: Meta, **items: JsonValue) -> JsonObject:
    """The job's config as stored JSON with ``items`` set (what was never set stays unset)."""
    return {**job_config(meta).model_dump(mode="json", exclude_unset=True), **items}


def pipeline_meta(meta: Meta) -> PipelineMeta:
    return PipelineMeta.model_validate(meta or {})


def updated(meta: Meta, **items: JsonValue) -> JsonObject:
    """A new dict (so SQLAlchemy sees the change) with ``items`` set."""
    moved = MOVED_KEYS.intersection(items)
    if moved:
        raise ValueError(f"{sorted(moved)} are columns or link rows since migration 0009")
    return {**(meta or {}), **items}
