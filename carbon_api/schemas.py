"""Response models of the HTTP API (the OpenAPI document is generated from these)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from carbon_domain.db.enums import JobResult, JobState, JobType, PipelineStatus

_PID = "0b8a6f2e-3c1d-4e5f-9a7b-2c4d6e8f0a1b"


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    broker: Literal["ok", "unavailable"]

    model_config = _example({"status": "ok", "database": "ok", "broker": "ok"})


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

    model_config = _example({"id": 4, "name": "equipment", "emission_roots": [80000],
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

    model_config = _example({"value": 80000, "path": "equipment", "name": "equipment",
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

    model_config = _example({"job_id": 17, "pipeline_id": _PID, "state": "QUEUED",
                             "message": "Recalculation of it for 2025 queued (job 17)"})


class AbortResult(BaseModel):
    pipeline_id: str
    aborted_job_ids: list[int]
    revoked_tasks: int
    aborted_by: str | None

    model_config = _example({"pipeline_id": _PID, "aborted_job_ids": [17, 18],
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

    model_config = _example({
        "id": 17, "pipeline_id": _PID, "job_type": "csv_ingest", "module_type_id": 4,
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
    chunks_failed: int = Field(description="Chunks of a finished job that never completed.")
    label: str = Field(description="e.g. \"chunks 37/120 · 2 failed\".")


class TimelineEvent(BaseModel):
    at: datetime
    event: Literal["created", "dispatched", "started", "heartbeat", "finished"]
    job_id: int | None = Field(description="null for the pipeline's own events.")
    job_type: JobType | None
    data_entry_type_id: int | None
    detail: str | None


class PipelineSummary(BaseModel):
    pipeline_id: uuid.UUID
    kind: str
    status: PipelineStatus
    module_type_id: int | None
    year: int | None
    created_by: str | None
    job_count: int
    error_count: int
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


class PipelineDetail(PipelineSummary):
    jobs: list[JobOut]
    timeline: list[TimelineEvent] = Field(
        default_factory=list, description="State changes derived from the pipeline's and "
                                          "its jobs' timestamps, oldest first.")


# -- staleness --------------------------------------------------------------------------------

class InputJobRef(BaseModel):
    id: int
    kind: JobType = Field(description="factor_ingest or csv_ingest.")
    label: str = Field(description="\"factor upload\" or \"data entry upload\".")
    result: JobResult | None
    created_at: datetime | None
    created_by: str | None
    pipeline_id: str | None
    module_wide: bool = Field(description="Uploaded for the whole module, not this type.")


class RecalculationRef(BaseModel):
    id: int
    state: JobState
    result: JobResult | None
    status_message: str | None
    finished_at: datetime | None
    pipeline_id: str | None


class TypeRecalculationStatus(BaseModel):
    module_type_id: int
    data_entry_type_id: int
    data_entry_type_name: str
    year: int
    needs_recalculation: bool
    recalculation_in_progress: bool
    last_input_job_id: int
    last_input_job_type: str
    last_input_job_result: JobResult | None
    last_recalculation_job_id: int | None
    last_recalculation_job_result: JobResult | None
    stale_reason: str | None = Field(
        None, description="Why it needs recalculation, e.g. \"factor upload #812 of "
                          "2026-11-27 14:02 by alice is newer than recalculation #790\"; "
                          "null when up to date.")
    last_input_job: InputJobRef
    last_recalculation: RecalculationRef | None = Field(
        None, description="The last finished recalculation, whatever its result.")
    last_successful_recalculation_job_id: int | None = None
    active_recalculation_job_id: int | None = None
    active_pipeline_id: str | None = None
    entry_count: int = Field(0, description="Entries of the type and year.")
    entries_without_factor: int | None = Field(
        None, description="From the last successful recalculation (null before the first).")
    entries_with_errors: int | None = Field(
        None, description="Entries the last successful recalculation could not compute.")
    live_factor_count: int = Field(0, description="Factors of the year not retired.")
    incomplete: bool = False
    incomplete_reasons: list[str] = Field(
        default_factory=list, description="No live factors although it has entries; "
                                          "building rooms, stations or exchange rates missing.")


class Totals(BaseModel):
    scope1: float
    scope2: float
    scope3: float
    total: float


class ModuleRecalculationStatus(BaseModel):
    module_type_id: int
    module_name: str
    year: int
    needs_recalculation: bool = Field(description="Any of its data entry types needs it.")
    recalculation_in_progress: bool
    data_entry_types: list[TypeRecalculationStatus]
    totals_kg: Totals = Field(description="Sum of the module's stats over the year's reports.")
    totals_t: Totals = Field(description="The same in t CO2-eq.")
    computed_at: datetime | None = Field(description="Latest stats computed_at (\"stats as "
                                                     "of\").")
    aggregation_in_progress: bool = Field(
        description="A recalculation or aggregation of the module is active: the stats are "
                    "being recalculated.")
    active_aggregation_job_id: int | None
    incomplete: bool = Field(description="Any of its data entry types is incomplete.")

    model_config = _example({
        "module_type_id": 4, "module_name": "equipment", "year": 2025,
        "needs_recalculation": True, "recalculation_in_progress": False,
        "totals_kg": {"scope1": 0.0, "scope2": 82.4, "scope3": 0.0, "total": 82.4},
        "totals_t": {"scope1": 0.0, "scope2": 0.0824, "scope3": 0.0, "total": 0.0824},
        "computed_at": "2025-03-01T10:00:03Z", "aggregation_in_progress": False,
        "active_aggregation_job_id": None, "incomplete": False,
        "data_entry_types": [{
            "module_type_id": 4, "data_entry_type_id": 11, "data_entry_type_name": "it",
            "year": 2025, "needs_recalculation": True, "recalculation_in_progress": False,
            "last_input_job_id": 31, "last_input_job_type": "factor_ingest",
            "last_input_job_result": "SUCCESS", "last_recalculation_job_id": 12,
            "last_recalculation_job_result": "SUCCESS",
            "stale_reason": "factor upload #31 of 2025-03-02 09:12 by alice is newer than "
                            "recalculation #12",
            "last_input_job": {"id": 31, "kind": "factor_ingest", "label": "factor upload",
                               "result": "SUCCESS", "created_at": "2025-03-02T09:12:00Z",
                               "created_by": "alice", "pipeline_id": _PID,
                               "module_wide": False},
            "last_recalculation": {"id": 12, "state": "FINISHED", "result": "SUCCESS",
                                   "status_message": "Recalculated 3 it entries: 3 emission "
                                                     "rows, 0 without a matching factor, 0 "
                                                     "errors",
                                   "finished_at": "2025-03-01T10:00:02Z", "pipeline_id": _PID},
            "last_successful_recalculation_job_id": 12, "active_recalculation_job_id": None,
            "active_pipeline_id": None, "entry_count": 3, "entries_without_factor": 0,
            "entries_with_errors": 0, "live_factor_count": 2, "incomplete": False,
            "incomplete_reasons": []}]})


class TypePreview(BaseModel):
    data_entry_type_id: int
    data_entry_type_name: str
    entry_count: int
    entries_to_recalculate: int
    needs_recalculation: bool
    stale_reason: str | None
    recalculation_in_progress: bool
    active_recalculation_job_id: int | None


class RecalculationPreview(BaseModel):
    module_type_id: int
    year: int
    data_entry_types: list[TypePreview]


# -- reports ----------------------------------------------------------------------------------

class UnitOut(BaseModel):
    id: int
    institutional_code: str
    institutional_id: str | None
    name: str
    level: int
    parent_institutional_code: str | None


class ReportModuleOut(BaseModel):
    module_type_id: int
    module_name: str
    status: int
    stats: dict[str, Any] | None
    last_updated: datetime | None


class ReportOut(BaseModel):
    id: int
    year: int
    unit: UnitOut
    stats: dict[str, Any] | None = Field(description="Sum of its modules: scope1, scope2, "
                                                     "scope3, total (kg), by_emission_type, "
                                                     "entry_count, missing_factors, ...")
    last_updated: datetime | None
    modules: list[ReportModuleOut]


class ReportPage(BaseModel):
    items: list[ReportOut]
    total: int
    limit: int
    offset: int


class RollupNode(BaseModel):
    value: int
    path: str
    scope: int | None
    kg: float = Field(description="Total of the node's subtree.")
    own_kg: float = Field(description="kg stored on the node itself (fallback rows).")
    children: list[RollupNode]


class ModuleStatsOut(BaseModel):
    report_id: int
    year: int
    unit_code: str
    module_type_id: int
    module_name: str
    stats: dict[str, Any] | None = Field(description="null until the module was aggregated.")
    last_updated: datetime | None
    tree: list[RollupNode] = Field(description="Rollup tree over the module's emission roots "
                                               "(treemap-ready; empty branches left out).")

    model_config = _example({
        "report_id": 3, "year": 2025, "unit_code": "LAB-A", "module_type_id": 4,
        "module_name": "equipment", "last_updated": "2025-03-01T10:00:03Z",
        "stats": {"scope1": 0.0, "scope2": 82.368, "scope3": 0.0, "total": 82.368,
                  "by_emission_type": {"80200": 82.368}, "entry_count": 3,
                  "missing_factors": 0, "computed_at": "2025-03-01T10:00:03.000000Z",
                  "formula_version": "2026.11-1"},
        "tree": [{"value": 80000, "path": "equipment", "scope": None, "kg": 82.368,
                  "own_kg": 0.0, "children": [{"value": 80200, "path": "equipment__it",
                                               "scope": 2, "kg": 82.368, "own_kg": 82.368,
                                               "children": []}]}]})


# -- workers ----------------------------------------------------------------------------------

class ActiveTask(BaseModel):
    id: str | None
    name: str | None


class WorkerOut(BaseModel):
    name: str
    active_tasks: int
    tasks: list[ActiveTask]
    version: str | None = Field(None, description="Product version the worker runs (package "
                                                  "version + CARBON_RELEASE or git commit); "
                                                  "null: an older release that cannot say.")
    pid: int | None = None
    queues: list[str] = Field(default_factory=list)
    uptime_seconds: float | None = None
    answered_at: datetime | None = Field(None, description="When it answered (alive then).")

    model_config = _example({"name": "celery@worker-1", "active_tasks": 1, "tasks": [
        {"id": "5f0c…", "name": "carbon.recalculate_chunk"}], "version": "0.1.0+g1a2b3c4d5e",
        "pid": 4242, "queues": ["recalc"], "uptime_seconds": 3600.0,
        "answered_at": "2025-03-01T10:00:00Z"})


class WorkersOverview(BaseModel):
    workers: list[WorkerOut]
    versions: list[str | None] = Field(description="Distinct versions the workers run.")
    versions_differ: bool = Field(description="The live workers do not all run the same "
                                              "version (warn: a deploy is half done).")
    api_version: str = Field(description="The version this API runs.")



# -- factors ----------------------------------------------------------------------------------

class FactorOut(BaseModel):
    id: int
    data_entry_type_id: int
    data_entry_type_name: str
    emission_type_id: int
    emission_type_path: str | None
    year: int | None
    classification: dict[str, Any] = Field(description="The factor's identity (with its type, "
                                                       "emission type and year).")
    values: dict[str, Any]
    status: Literal["live", "retired"] = Field(
        description="`retired`: absent from the latest factor file of its type and year; "
                    "never matched again, kept for history.")
    retired_at: datetime | None
    retired_by_job_id: int | None
    changed_by_job_id: int | None = Field(
        description="The last upload that inserted, changed, retired or revived it.")
    updated_at: datetime | None


class FactorPage(BaseModel):
    items: list[FactorOut]
    total: int
    limit: int
    offset: int

    model_config = _example({"items": [{
        "id": 12, "data_entry_type_id": 11, "data_entry_type_name": "it",
        "emission_type_id": 80200, "emission_type_path": "equipment__it", "year": 2025,
        "classification": {"equipment_class": "Laptop", "sub_class": None},
        "values": {"active_power_w": 100, "ef_kg_co2eq_per_kwh": 0.1}, "status": "retired",
        "retired_at": "2025-03-02T09:00:00Z", "retired_by_job_id": 41,
        "changed_by_job_id": 41, "updated_at": "2025-03-02T09:00:00Z"}],
        "total": 1, "limit": 100, "offset": 0})
