"""University-wide totals for a year: the stored module statistics summed over reports."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain import stats as stats_lib
from carbon_domain.catalog import ModuleType
from carbon_domain.db.models import CarbonReport, CarbonReportModule
from carbon_domain.json_types import JsonObject


@dataclass(frozen=True, slots=True)
class ModuleTotal:
    """One module type summed over every report of the year (kg CO2-eq)."""

    module_type_id: int
    module_name: str
    scope1: float
    scope2: float
    scope3: float
    total: float
    by_emission_type: dict[str, float]
    entry_count: int
    missing_factors: int


def module_totals(session: Session, year: int) -> list[ModuleTotal]:
    """Per module type: the sum of every report's module stats (reads stored JSON only)."""
    by_module: dict[int, list[JsonObject]] = {}
    for module_type_id, st in session.execute(
            select(CarbonReportModule.module_type_id, CarbonReportModule.stats)
            .join(CarbonReport, CarbonReport.id == CarbonReportModule.carbon_report_id)
            .where(CarbonReport.year == year)):
        if isinstance(st, str):
            st = json.loads(st)
        if st:
            by_module.setdefault(module_type_id, []).append(st)
    out = []
    for m in ModuleType:
        summed = stats_lib.report_stats(by_module.get(m.value, []))
        out.append(ModuleTotal(
            module_type_id=m.value, module_name=m.name, scope1=summed["scope1"],
            scope2=summed["scope2"], scope3=summed["scope3"], total=summed["total"],
            by_emission_type=summed["by_emission_type"], entry_count=summed["entry_count"],
            missing_factors=summed["missing_factors"]))
    return out


def module_tree(session: Session, year: int, module_type_id: int
                ) -> list[stats_lib.RollupNode]:
    """The rollup tree of one module type over every report of the year."""
    total = next(t for t in module_totals(session, year) if t.module_type_id == module_type_id)
    return stats_lib.module_rollup_tree(module_type_id, total.by_emission_type)
