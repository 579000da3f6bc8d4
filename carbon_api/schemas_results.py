"""Response models of the drill-down and explain routes (``routes/results.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

ReasonKind = Literal["no_matching_factor", "retired_factor", "unresolvable_type",
                     "entry_error", "not_recalculated"]
_REASON = ("Why the entry has no emission row (null when it has rows): no_matching_factor, "
           "retired_factor (only retired factors match), unresolvable_type (no emission type "
           "from its data), entry_error (its data cannot be computed), not_recalculated (the "
           "current factors give rows: the type is stale).")


class EmissionRowOut(BaseModel):
    emission_type_id: int
    emission_type_path: str
    scope: int
    kg_co2eq: float
    additional_value: float | None = Field(description="Plane/train: km; headcount: the "
                                                       "quantity in the factor's unit.")
    factor_id: int | None = Field(description="The factor used (null: operator override).")


class EntryOut(BaseModel):
    id: int
    data_entry_type_id: int
    data_entry_type_name: str
    data: dict[str, Any] = Field(description="The entry's data as uploaded (canonical form).")
    emissions: list[EmissionRowOut]
    reason_kind: ReasonKind | None = Field(description=_REASON)
    reason: str | None


class EntryPageOut(BaseModel):
    report_id: int
    module_type_id: int
    page: int
    limit: int
    total: int | None = Field(description="Entries matching the filters (ignoring `after`); "
                                          "only with `count=true` (a pass over the module).")
    has_more: bool
    next_after: int | None = Field(description="Pass as `after` for the next page (keyset: "
                                               "constant cost at any depth).")
    items: list[EntryOut]


class ExplainedRowOut(EmissionRowOut):
    formula: str = Field(description="The handler's formula, by input name.")
    substituted: str = Field(description="The formula with the inputs' values; evaluating "
                                         "it gives kg_co2eq.")
    inputs: dict[str, float]


class StoredRowOut(EmissionRowOut):
    agrees: bool = Field(description="False: this stored row differs from the recomputation "
                                     "(stale; recalculate the type).")
    factor_version: int | None = Field(None, description="The version of the row's factor "
                                       "(GET /v1/factors/{id}/history) in force when the "
                                       "row was computed.")
    factor_set_by_job_id: int | None = Field(None, description="The job that set that "
                                             "version (the factor upload).")


class FactorOut(BaseModel):
    id: int
    emission_type_id: int
    classification: dict[str, Any]
    values: dict[str, Any]
    retired_at: datetime | None
    version: int | None = Field(None, description="Current version (number of changes in "
                                "its history); the recomputed rows use it.")
    change: str | None = Field(None, description="What the change that made this version "
                               "did: inserted, updated, retired, revived, computed, recorded.")
    set_by_job_id: int | None = Field(None, description="The upload (job) that set this "
                                      "version.")
    set_by: str | None = None
    set_at: datetime | None = None


class TypeRef(BaseModel):
    emission_type_id: int
    emission_type_path: str


class ExplainOut(BaseModel):
    id: int
    data_entry_type_id: int
    data_entry_type_name: str
    year: int
    report_id: int
    module_type_id: int
    unit_code: str | None
    data: dict[str, Any]
    strategy: Literal["A", "B"] = Field(description="A: linked factor; B: factors queried "
                                                    "from the entry's data.")
    resolved_emission_types: list[TypeRef]
    factors: list[FactorOut] = Field(description="Factors of the recomputed and the stored "
                                                 "rows.")
    rows: list[ExplainedRowOut] = Field(description="Recomputed now by the pure engine.")
    reason_kind: ReasonKind | None = Field(description=_REASON)
    reason: str | None
    stored_rows: list[StoredRowOut]
    stored_rows_agree: bool = Field(description="The stored rows are exactly the recomputed "
                                                "ones.")
