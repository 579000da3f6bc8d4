"""Response models of the staleness reads: the recalculation status with each type's one
display state, the recalculation preview and the stale statistics monitoring polls
(``carbon_api.schemas_reads`` and ``carbon_api.schemas`` re-export them)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from carbon_api.schemas_examples import EXAMPLE_PID, with_example
from carbon_domain.db.enums import JobResult, JobState, JobType

# -- staleness --------------------------------------------------------------------------------

class InputJobRef(BaseModel):
    id: int
    kind: JobType = Field(description="factor_ingest, csv_ingest or reference_ingest.")
    label: str = Field(description="\"factor upload\", \"data entry upload\" or the reference "
                                   "kind's, e.g. \"stations upload\".")
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


DisplayStateName = Literal["up_to_date", "needs_recalculation", "recalculating", "failed",
                          "incomplete"]


class FailedRunRef(BaseModel):
    job_id: int
    pipeline_id: str | None
    aborted: bool
    aborted_by: str | None
    chunks_done: int
    chunks_total: int
    partly_rewritten: bool = Field(description="Some chunks rewrote their entries' live rows "
                                               "before it stopped (an incremental run: a full "
                                               "run's chunks write a stage, dropped when it "
                                               "stops, so the numbers stay as they were).")
    text: str = Field(description="e.g. \"recalculation #398 aborted by alice at chunk 3/8 "
                                  "— numbers partly rewritten\"")


class EntryProgress(BaseModel):
    done: int
    total: int


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
        None, description="Entries of the slice without a matching factor after the last "
                          "successful recalculation, full or incremental (null before the "
                          "first); never those that could not be computed.")
    entries_with_errors: int | None = Field(
        None, description="Entries of the slice that have a factor but could not be "
                          "computed (errors: no rows, not in the totals), the same count "
                          "after a full and an incremental run.")
    live_factor_count: int = Field(0, description="Factors of the year not retired.")
    incomplete: bool = False
    incomplete_reasons: list[str] = Field(
        default_factory=list, description="No live factors although it has entries; "
                                          "building rooms, stations or exchange rates missing.")
    state: DisplayStateName = Field(
        "up_to_date", description="The one state every surface shows: recalculating > failed "
                                  "> needs_recalculation > incomplete > up_to_date.")
    state_label: str = Field("", description="Its badge text, e.g. \"⚠ needs recalculation\".")
    reasons: list[str] = Field(default_factory=list,
                               description="Why it needs recalculation, one line each.")
    state_detail: str | None = Field(None, description="Progress while recalculating, where a "
                                                       "failed run stopped, what is missing.")
    action: Literal["Recalculate", "Retry"] = "Recalculate"
    progress: EntryProgress | None = None
    failed_run: FailedRunRef | None = None
    formula_version: str = Field("", description="The code's formula version of the type.")
    rows_formula_version: str | None = Field(
        None, description="The version its rows were computed with (null: never computed).")


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
    state: DisplayStateName = Field(
        "up_to_date", description="The module's one state: its most pressing type's, "
                                  "recalculating while its totals are being rebuilt, or "
                                  "failed when its last aggregation failed (its totals were "
                                  "not updated).")
    state_label: str = Field("", description="Its badge text, e.g. \"✗ totals not "
                                             "updated\" (then ``state_detail`` says why).")
    state_counts: dict[str, int] = Field(default_factory=dict,
                                         description="Its types per state.")
    action: Literal["Recalculate", "Retry"] = "Recalculate"
    aggregation_failed: str | None = Field(
        None, description="Why its last aggregation failed, naming the unit whose total is "
                          "not finite; null when it did not fail.")
    state_detail: str | None = Field(None, description="The state's detail: that reason.")

    model_config = with_example({
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
                               "created_by": "alice", "pipeline_id": EXAMPLE_PID,
                               "module_wide": False},
            "last_recalculation": {"id": 12, "state": "FINISHED", "result": "SUCCESS",
                                   "status_message": "Recalculated 3 it entries: 3 emission "
                                                     "rows, 0 without a matching factor, 0 "
                                                     "errors",
                                   "finished_at": "2025-03-01T10:00:02Z",
                                   "pipeline_id": EXAMPLE_PID},
            "last_successful_recalculation_job_id": 12, "active_recalculation_job_id": None,
            "active_pipeline_id": None, "entry_count": 3, "entries_without_factor": 0,
            "entries_with_errors": 0, "live_factor_count": 2, "incomplete": False,
            "incomplete_reasons": []}]})


class StaleTypeOut(BaseModel):
    year: int
    module_type_id: int
    module_name: str
    data_entry_type_id: int
    data_entry_type_name: str
    state: DisplayStateName
    reasons: list[str]
    since: datetime | None = Field(description="Since when it has needed recalculation.")
    stale_seconds: float | None
    last_failed_job_id: int | None = None


class FailedModuleOut(BaseModel):
    year: int
    module_type_id: int
    module_name: str
    state: DisplayStateName = Field(description="The module's one state: failed.")
    state_label: str = Field(description="Its badge, \"✗ totals not updated\", as the "
                                         "recalculation status, the console and `carbon "
                                         "status` show it.")
    reasons: list[str] = Field(description="Why: the module state's detail, e.g. "
                                           "\"aggregation #41 failed: …\".")
    since: datetime | None = Field(description="When that aggregation ended.")
    stale_seconds: float | None
    last_failed_job_id: int | None = Field(None, description="The failed aggregation.")


class StaleStatsOut(BaseModel):
    older_than_seconds: float
    checked_at: datetime
    stale: list[StaleTypeOut] = Field(description="Needing recalculation for at least "
                                                  "older_than seconds.")
    failed: list[StaleTypeOut] = Field(description="Last recalculation failed or was "
                                                   "aborted (any age).")
    failed_modules: list[FailedModuleOut] = Field(
        default_factory=list, description="Modules whose last aggregation failed: their "
                                          "totals were not updated (any age).")

    model_config = with_example({
        "older_than_seconds": 3600, "checked_at": "2025-03-02T12:00:00Z",
        "stale": [{"year": 2025, "module_type_id": 4, "module_name": "equipment",
                   "data_entry_type_id": 11, "data_entry_type_name": "it",
                   "state": "needs_recalculation",
                   "reasons": ["factor upload #31 of 2025-03-02 09:12 by alice is newer than "
                               "recalculation #12"],
                   "since": "2025-03-02T09:12:04Z", "stale_seconds": 10076.0,
                   "last_failed_job_id": None}],
        "failed": [],
        "failed_modules": [{"year": 2025, "module_type_id": 5, "module_name": "purchase",
                            "state": "failed", "state_label": "✗ totals not updated",
                            "reasons": ["aggregation #41 failed: the purchase total of unit "
                                        "Lab A (UA) for 2025 is not finite: …"],
                            "since": "2025-03-02T11:58:10Z", "stale_seconds": 110.0,
                            "last_failed_job_id": 41}]})


class TypePreview(BaseModel):
    data_entry_type_id: int
    data_entry_type_name: str
    entry_count: int = Field(description="Every entry of the type in the year: what a full "
                                         "recalculation (all types, or chosen types) rewrites.")
    entries_to_recalculate: int = Field(
        description="What the default only-stale recalculation would rewrite of this type: "
                    "the planner's own scope (only the entries a factor change affects, when "
                    "it can tell), 0 for a type that is not stale.")
    needs_recalculation: bool
    stale_reason: str | None
    recalculation_in_progress: bool
    active_recalculation_job_id: int | None
    incremental: bool = Field(False, description="The only-stale run would rewrite part of "
                                                 "the type's entries, not all.")
    scope_reason: str | None = Field(None, description="The planner's reason for that scope.")


class RecalculationPreview(BaseModel):
    module_type_id: int
    year: int
    data_entry_types: list[TypePreview]
