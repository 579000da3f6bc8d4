"""The control keys of the ``meta`` JSON of jobs and pipelines, validated and typed.

``meta`` also carries reports (row errors, recalculation counts, aggregation runs) that only
people read; those stay free-form (``extra="allow"``). The keys below steer the pipeline, so
they are read through these models instead of ``(meta or {}).get(...)``:

- job ``config.recalculate`` / ``mode`` / ``kind``: what the operator asked for;
- job ``config.job_ids`` / ``joined_job_ids``: the per-type jobs a module-level job started
  or joined (it closes when they are done);
- job ``config.position``: "type i of n" in progress messages;
- job ``covers_input_job_id``: the newest input a not-yet-started recalculation will read
  (staleness counts it as covered);
- job ``rerun_job_id``: the rerun a dirty recalculation requested;
- pipeline ``linked_job_ids``: jobs of other pipelines this one joined (dedup hits);
- pipeline ``awaits_aggregation``: "module:year" keys whose trailing aggregation it waits for.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Meta = dict[str, Any] | None


class JobConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    recalculate: bool = False
    mode: str | None = None
    kind: str | None = None
    job_ids: list[int] = Field(default_factory=list)
    joined_job_ids: list[int] = Field(default_factory=list)
    position: tuple[int, int] = (1, 1)


class JobMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    config: JobConfig = Field(default_factory=JobConfig)
    covers_input_job_id: int | None = None
    rerun_job_id: int | None = None


class PipelineMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    linked_job_ids: list[int] = Field(default_factory=list)
    awaits_aggregation: list[str] = Field(default_factory=list)


def job_meta(meta: Meta) -> JobMeta:
    return JobMeta.model_validate(meta or {})


def job_config(meta: Meta) -> JobConfig:
    return job_meta(meta).config


def pipeline_meta(meta: Meta) -> PipelineMeta:
    return PipelineMeta.model_validate(meta or {})


def updated(meta: Meta, **items: Any) -> dict[str, Any]:
    """A new dict (so SQLAlchemy sees the change) with ``items`` set."""
    return {**(meta or {}), **items}
