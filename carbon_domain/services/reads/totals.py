"""University-wide totals for a year: the stored module statistics summed over reports."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain import stats as stats_lib
from carbon_domain.catalog import ModuleType
from carbon_domain.db.models import CarbonReport, CarbonReportModule


def module_totals(session: Session, year: int) -> list[dict[str, Any]]:
    """Per module type: the sum of every report's module stats (reads stored JSON only)."""
    by_module: dict[int, list[dict[str, Any]]] = {}
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
        out.append({"module_type_id": m.value, "module_name": m.name, **summed})
    return out


def module_tree(session: Session, year: int, module_type_id: int) -> list[dict[str, Any]]:
    """The rollup tree of one module type over every report of the year."""
    total = next(t for t in module_totals(session, year) if t["module_type_id"] == module_type_id)
    return stats_lib.module_rollup_tree(module_type_id, total["by_emission_type"])
