"""What the drill-down reads return (services/reads/drilldown.py): typed, frozen dataclasses.

The API's response models (``carbon_api/schemas_results.py``) read them by attribute; the
console and the CLI show them. Extra fields the API does not publish (a factor version's
pipeline and file name, an entry's kg) serve the console's links.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class EmissionRow:
    """One stored (or recomputed) emission row of an entry."""

    emission_type_id: int
    emission_type_path: str
    scope: int
    kg_co2eq: float
    additional_value: float | None
    factor_id: int | None


@dataclass(frozen=True, slots=True)
class EntryItem:
    """One entry of a drill-down page: its data, its rows (or why it has none)."""

    id: int
    data_entry_type_id: int
    data_entry_type_name: str
    data: dict[str, Any]
    emissions: list[EmissionRow]
    reason_kind: str | None
    reason: str | None

    @property
    def kg_co2eq(self) -> float | None:
        """The entry's kg CO2-eq (sum of its rows, correctly rounded); None without rows."""
        return math.fsum(r.kg_co2eq for r in self.emissions) if self.emissions else None

    @property
    def factor_ids(self) -> list[int]:
        """The factors its rows were computed with, in row order, once each."""
        return list(dict.fromkeys(r.factor_id for r in self.emissions if r.factor_id))


@dataclass(frozen=True, slots=True)
class EntryPage:
    """One page of a report module's entries (ascending id)."""

    report_id: int
    module_type_id: int
    page: int
    limit: int
    total: int | None  # only when asked (``count``): counting costs O(module), not O(page)
    has_more: bool
    next_after: int | None
    items: list[EntryItem]


@dataclass(frozen=True, slots=True)
class ExplainedRow:
    """A row recomputed now by the engine, with its formula and inputs."""

    emission_type_id: int
    emission_type_path: str
    scope: int
    kg_co2eq: float
    additional_value: float | None
    factor_id: int | None
    formula: str
    substituted: str
    inputs: dict[str, float]


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A stored row, whether the recomputation agrees, and the factor version it used."""

    emission_type_id: int
    emission_type_path: str
    scope: int
    kg_co2eq: float
    additional_value: float | None
    factor_id: int | None
    agrees: bool
    factor_version: int | None
    factor_set_by_job_id: int | None


@dataclass(frozen=True, slots=True)
class FactorUsed:
    """A factor of the explained entry with its current version and the upload that set it
    (None for a factor without history, written outside every service)."""

    id: int
    emission_type_id: int
    classification: dict[str, Any]
    values: dict[str, Any]
    retired_at: datetime | None
    version: int | None
    change: str | None
    set_by_job_id: int | None
    set_by: str | None
    set_at: datetime | None
    set_by_pipeline_id: str | None  # the upload's pipeline (console link)
    set_by_filename: str | None     # the uploaded file's name


@dataclass(frozen=True, slots=True)
class TypeRef:
    emission_type_id: int
    emission_type_path: str


@dataclass(frozen=True, slots=True)
class EntryExplanation:
    """One entry recomputed by the pure engine, and how its stored rows compare."""

    id: int
    data_entry_type_id: int
    data_entry_type_name: str
    year: int
    report_id: int
    module_type_id: int
    unit_code: str | None
    data: dict[str, Any]
    strategy: str
    resolved_emission_types: list[TypeRef]
    factors: list[FactorUsed]
    rows: list[ExplainedRow]
    reason_kind: str | None
    reason: str | None
    stored_rows: list[StoredRow]
    stored_rows_agree: bool


@dataclass(frozen=True, slots=True)
class UnitModule:
    """One unit's report module of a year: what the console's "entries by unit" lists."""

    report_id: int
    unit_code: str
    unit_name: str | None
    entries: int
    kg_co2eq: float | None  # the module's stored statistics total; None before any


@dataclass(frozen=True, slots=True)
class ReportRef:
    """A report found by id or by (unit code, year)."""

    report_id: int
    unit_code: str
    year: int
