"""Response models of the read endpoints (staleness, reports, workers, factors) and the
example helpers every response model uses; ``carbon_api.schemas`` re-exports them all."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from carbon_api.schemas_examples import EXAMPLE_PID, with_example  # noqa: F401 - re-exported
from carbon_api.schemas_status import (  # noqa: F401 - re-exported
    DisplayStateName,
    EntryProgress,
    FailedRunRef,
    InputJobRef,
    ModuleRecalculationStatus,
    RecalculationPreview,
    RecalculationRef,
    StaleStatsOut,
    StaleTypeOut,
    Totals,
    TypePreview,
    TypeRecalculationStatus,
)
from carbon_domain import task_names as tn

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

    model_config = with_example({
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

    model_config = with_example({"name": "celery@worker-1", "active_tasks": 1, "tasks": [
        {"id": "5f0c…", "name": tn.RECALCULATE_CHUNK}], "version": "0.1.0+g1a2b3c4d5e",
        "pid": 4242, "queues": [tn.RECALC], "uptime_seconds": 3600.0,
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

    model_config = with_example({"items": [{
        "id": 12, "data_entry_type_id": 11, "data_entry_type_name": "it",
        "emission_type_id": 80200, "emission_type_path": "equipment__it", "year": 2025,
        "classification": {"equipment_class": "Laptop", "sub_class": None},
        "values": {"active_power_w": 100, "ef_kg_co2eq_per_kwh": 0.1}, "status": "retired",
        "retired_at": "2025-03-02T09:00:00Z", "retired_by_job_id": 41,
        "changed_by_job_id": 41, "updated_at": "2025-03-02T09:00:00Z"}],
        "total": 1, "limit": 100, "offset": 0})
