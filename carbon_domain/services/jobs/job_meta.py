"""The ``meta`` JSON of jobs and pipelines: what stays in it, validated and typed.

Since migration 0009 the keys that steer the pipeline are columns and link tables, not JSON
(``services/jobs/job_links.py``): a job's ``covers_input_job_id`` and ``rerun_job_id`` are
columns; a module-level job's per-type jobs (``config.job_ids`` / ``joined_job_ids``), the
jobs a pipeline joined (``linked_job_ids``) and the aggregations it awaits
(``awaits_aggregation``) are rows of db/link_models.py. :func:`updated` refuses them, so no
code path writes one back into JSON.

What stays: the job ``config`` (what the operator asked for: ``recalculate``, ``mode``,
``kind``; ``position``, "type i of n" in progress messages) and reports that only people
read (row errors, recalculation counts, abort notes), free-form (``extra="allow"``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from carbon_domain.json_types import JsonObject, JsonValue

Meta = JsonObject | None

# Stored outside meta since 0009 (the API still shows them inside it: job_links.api_meta).
MOVED_KEYS = frozenset({"covers_input_job_id", "rerun_job_id", "job_ids", "joined_job_ids",
                        "linked_job_ids", "awaits_aggregation"})


class JobConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    recalculate: bool = False
    mode: str | None = None
    kind: str | None = None
    position: tuple[int, int] = (1, 1)


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


def pipeline_meta(meta: Meta) -> PipelineMeta:
    return PipelineMeta.model_validate(meta or {})


def updated(meta: Meta, **items: JsonValue) -> JsonObject:
    """A new dict (so SQLAlchemy sees the change) with ``items`` set."""
    moved = MOVED_KEYS.intersection(items)
    if moved:
        raise ValueError(f"{sorted(moved)} are columns or link rows since migration 0009")
    return {**(meta or {}), **items}
