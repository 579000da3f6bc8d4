"""Response models of the HTTP API (the OpenAPI document is generated from these)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from carbon_api.schemas_reads import (  # noqa: F401 - re-exported
    EXAMPLE_PID,
    ActiveTask,
    FactorOut,
    FactorPage,
    InputJobRef,
    ModuleRecalculationStatus,
    ModuleStatsOut,
    RecalculationPreview,
    RecalculationRef,
    ReportModuleOut,
    ReportOut,
    ReportPage,
    RollupNode,
    StaleStatsOut,
    Totals,
    TypePreview,
    TypeRecalculationStatus,
    UnitOut,
    WorkerOut,
    WorkersOverview,
    with_example,
)
from carbon_domain.db.enums import JobResult, JobState, JobType, PipelineStatus


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    broker: Literal["ok", "unavailable"]

    model_config = with_example({"status": "ok", "database": "ok", "broker": "ok"})


# -- catalog ----------------------------------------------------------------------------------

class DataEntryTypeOut(BaseModel):
    id: int
    name: str


class ModuleOut(BaseModel):
    id: int
    name: str
    data_entry_types: list[DataEntryTypeOut]
    emission_roots: list[int] = Field(description="Emission type nodes the module's stats "
                                                  "roll up under.")

    model_config = with_example({"id": 4, "name": "equipment", "emission_roots": [80000],
                             "data_entry_types": [{"id": 10, "name": "scientific"},
                                                  {"id": 11, "name": "it"},
                                                  {"id": 12, "name": "other"}]})


class EmissionTypeNode(BaseModel):
    value: int
    path: str
    name: str = Field(description="Last segment of the path.")
    level: int
    scope: int | None = Field(description="1, 2 or 3 for types rows are stored on; null for "
                                           "pure grouping nodes.")
    is_leaf: bool
    children: list[EmissionTypeNode]

    model_config = with_example({"value": 80000, "path": "equipment", "name": "equipment",
                             "level": 0, "scope": None, "is_leaf": False, "children": [
                                 {"value": 80200, "path": "equipment__it", "name": "it",
                                  "level": 1, "scope": 2, "is_leaf": True, "children": []}]})


# -- starting work ----------------------------------------------------------------------------

class Accepted(BaseModel):
    """The work was accepted: its job row is committed and dispatched (or, for a duplicate
    trigger, the already active job is returned)."""

    job_id: int
    pipeline_id: str | None
    state: JobState
    message: str

    model_config = with_example({"job_id": 17, "pipeline_id": EXAMPLE_PID, "state": "QUEUED",
                             "message": "Recalculation of it for 2025 queued (job 17)"})


class AbortResult(BaseModel):
    pipeline_id: str
    aborted_job_ids: list[int]
    revoked_tasks: int
    aborted_by: str | None

    model_config = with_example({"pipeline_id": EXAMPLE_PID, "aborted_job_ids": [17, 18],
                             "revoked_tasks": 3, "aborted_by": "ops-alice"})


# -- jobs and pipelines -----------------------------------------------------------------------

class Progress(BaseModel):
    done: int
    total: int


class JobChild(BaseModel):
    """A per-type recalculation job of a module-level recalculation."""

    id: int
    data_entry_type_id: int | None
    state: JobState
    result: JobResult | None
    status_message: str | None
    progress: Progress
    recalculation: dict[str, Any] | None = Field(
        None, description="Per-type stats once finished (entries, rows, missing_factors, "
                          "errors, error_details).")


class JobOut(BaseModel):
    id: int
    pipeline_id: uuid.UUID | None
    job_type: JobType
    module_type_id: int | None
    data_entry_type_id: int | None
    year: int | None
    target_type: str
    ingestion_method: str
    state: JobState
    result: JobResult | None
    status_message: str | None
    progress: Progress = Field(description="Items done / total (the same as meta.progress).")
    meta: dict[str, Any] = Field(description="config, progress, stats and the first row "
                                             "errors (row_errors: [{row, reason}]).")
    children: list[JobChild] = Field(
        default_factory=list,
        description="For a module-level recalculation: its per-type jobs, in order.")
    is_current: bool
    attempts: int
    max_attempts: int
    celery_task_id: str | None
    upload_id: int | None
    created_by: str | None
    created_at: datetime | None
    dispatched_at: datetime | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    stuck: bool = Field(False, description="RUNNING without a heartbeat for longer than "
                                           "CARBON_STALE_JOB_SECONDS (the reconciler will "
                                           "retry or give it up).")
    chunks: ChunkCounts | None = Field(None, description="Pipeline detail, recalculation "
                                                         "jobs: chunks done / total.")
    coalesced_recalculations: int | None = Field(
        None, description="Pipeline detail, aggregation jobs: the recalculations of its "
                          "(module, year) this one aggregation covered (\"3 recalculations "
                          "→ 1 aggregation\").")
    coalesced_recalculation_job_ids: list[int] | None = Field(
        None, description="Their ids (the first 100).")

    model_config = with_example({
        "id": 17, "pipeline_id": EXAMPLE_PID, "job_type": "csv_ingest", "module_type_id": 4,
        "data_entry_type_id": 11, "year": 2025, "target_type": "DATA_ENTRIES",
        "ingestion_method": "csv", "state": "FINISHED", "result": "WARNING",
        "status_message": "WARNING: 4 entries stored, 1 rows skipped — first error: row 3: "
                          "active_usage_hours_per_week: 'abc' is not a number",
        "progress": {"done": 0, "total": 0},
        "meta": {"config": {"filename": "it.csv"}, "rows": 5, "processed": 4, "skipped": 1,
                 "row_errors": [{"row": 3, "reason": "active_usage_hours_per_week: 'abc' "
                                                     "is not a number"}],
                 "progress": {"done": 0, "total": 0}},
        "children": [], "is_current": True, "attempts": 1, "max_attempts": 3,
        "celery_task_id": "5f0c…", "upload_id": 9, "created_by": "ops-alice",
        "created_at": "2025-03-01T10:00:00Z", "dispatched_at": "2025-03-01T10:00:00Z",
        "started_at": "2025-03-01T10:00:01Z", "heartbeat_at": "2025-03-01T10:00:02Z",
        "finished_at": "2025-03-01T10:00:02Z"})


class PipelineProgress(BaseModel):
    jobs_finished: int
    jobs_total: int = Field(description="Jobs known so far (later steps appear as they start).")
    done: int = Field(description="Items done over all jobs.")
    total: int
    finished: bool = Field(description="True once the pipeline reached a terminal status.")


class ChunkCounts(BaseModel):
    total: int
    done: int


class Phase(BaseModel):
    name: Literal["ingest", "recalculation", "aggregation"]
    state: Literal["absent", "pending", "running", "finished"]
    result: JobResult | None = Field(description="Once finished: the worst of its jobs.")
    jobs_total: int
    jobs_finished: int
    chunks_total: int
    chunks_done: int
    chunks_failed: int = Field(description="Chunks of a finished job that never completed "
                                           "(an aborted job's: chunks_aborted).")
    chunks_aborted: int = Field(0, description="Chunks of an aborted job that never ran.")
    label: str = Field(description="e.g. \"chunks 37/120 · 2 failed\", \"chunks 38/89 · 51 not "
                                   "run (aborted)\".")


class TimelineEvent(BaseModel):
    at: datetime
    event: Literal["created", "dispatched", "started", "heartbeat", "finished"]
    job_id: int | None = Field(description="null for the pipeline's own events.")
    job_type: JobType | None
    data_entry_type_id: int | None
    detail: str | None


class Silence(BaseModel):
    since: datetime = Field(description="Its last sign of progress: a job of it started, "
                                        "heartbeat or finished; for a queued pipeline, when "
                                        "it was sent to the broker.")
    replan_at: datetime = Field(description="When the reconciler takes its running jobs "
                                            "for lost and re-plans them "
                                            "(CARBON_STALE_JOB_SECONDS after their last "
                                            "heartbeat); for a queued pipeline, when it sends "
                                            "its jobs again (that long after they were sent).")
    text: str = Field(description="\"no progress for 4 min (since 22:01:05 UTC): …\", or "
                                  "\"queued for 4 min (since …) and no worker started it: "
                                  "…\"")


class PipelineSummary(BaseModel):
    pipeline_id: uuid.UUID
    kind: str
    status: PipelineStatus
    display_status: str = Field(
        description="What to show: the status, except SUCCESS_WITH_WARNINGS for a SUCCESS "
                    "with a job of its own that ended WARNING (rows skipped, a column "
                    "ignored; `status` stays SUCCESS), and QUEUED for a RUNNING pipeline "
                    "none of whose jobs has started yet (no worker took it; `status` stays "
                    "RUNNING).")
    waiting_for: Literal["broker", "worker"] | None = Field(
        None, description="For a QUEUED pipeline, what it waits for: `broker` while none of "
                          "its jobs is on the broker yet (saved in the outbox while the "
                          "broker was unreachable; the reconciler sends them), `worker` once "
                          "they are (no worker took them yet). null otherwise.")
    silence: Silence | None = Field(
        None, description="A RUNNING pipeline with a running job none of whose jobs moved "
                          "for CARBON_NO_PROGRESS_SECONDS (2 minutes by default): its work "
                          "waits behind other work, or was lost with a worker that died "
                          "holding it; or a QUEUED one on the broker that long with no job "
                          "started. null otherwise.")
    reverts_job_id: int | None = Field(
        None, description="The upload job this pipeline's upload undoes (a revert, started "
                          "directly or by applying a revert's preview); null for any other "
                          "pipeline.")
    module_type_id: int | None
    year: int | None
    created_by: str | None
    job_count: int = Field(description="Jobs of its own (created for it), as counted when its "
                                       "status was last recomputed; `progress.jobs_total` "
                                       "also counts the jobs of other pipelines it joined "
                                       "(a recalculation already queued by another trigger).")
    error_count: int
    warning_count: int = Field(description="Jobs of its own that ended WARNING.")
    last_error: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    progress: PipelineProgress
    phases: list[Phase] = Field(default_factory=list,
                                description="ingest, recalculation, aggregation.")
    duration_seconds: float | None = Field(
        None, description="From start to finish. While running: the time so far in the "
                          "listing, null in the detail and its stream (which only sends "
                          "real changes); use started_at.")
    message: str | None = Field(None, description="Its error, else its first job's message.")


class PipelinePage(BaseModel):
    items: list[PipelineSummary]
    total: int
    limit: int
    offset: int
    counts_by_status: dict[PipelineStatus, int] = Field(
        default_factory=dict, description="Pipelines per status in the whole filtered "
                                          "result, not just this page.")
    counts_by_display_status: dict[str, int] = Field(
        default_factory=dict, description="The same, per display status: SUCCESS split "
                                          "into SUCCESS and SUCCESS_WITH_WARNINGS, RUNNING "
                                          "into QUEUED and RUNNING.")


class PipelineDetail(PipelineSummary):
    jobs: list[JobOut]
    timeline: list[TimelineEvent] = Field(
        default_factory=list, description="State changes derived from the pipeline's and "
                                          "its jobs' timestamps, oldest first.")
