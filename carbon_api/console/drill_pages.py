"""The drill-down in the console: a module of a year → its units (entries and total each) →
one unit's entries of the module, a page at a time, each with its kg CO2-eq and the factor
its rows were computed with, or why it has none → one entry explained
(``/console/entries/{id}``, factor_pages.py). The reads are ``services/reads/drilldown.py``,
the same as ``GET /v1/reports/{id}/modules/{m}/entries``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from carbon_api.console.web import PREFIX, User, message, render
from carbon_api.deps import INT32_MAX, YEAR_MAX, YEAR_MIN
from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, MODULE_OF, DataEntryType, ModuleType
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads import drilldown
from carbon_domain.services.reads.totals_note import totals_note

router = APIRouter(prefix=PREFIX, include_in_schema=False)
ModuleP = Annotated[int, Path(ge=1, le=8)]
PAGE = 50


@router.get("/data/{year}/modules/{module}/units", name="console_drill_units")
def units(request: Request, user: User, year: Annotated[int, Path(ge=YEAR_MIN, le=YEAR_MAX)],
          module: ModuleP) -> Response:
    """The units with entries in the module for the year: entries, stored total, a link to
    their entries; and, when the stored totals are not the entries' numbers now, why."""
    with session_scope() as s:
        found = drilldown.module_units(s, year, module)
        note = totals_note(s, year, module)
    return render(request, "drill_units.html", year=year, module=ModuleType(module),
                  units=found, entries=sum(u.entries for u in found), note=note)


@router.get("/reports/{report_id}/modules/{module}/entries", name="console_drill_entries")
def entries(request: Request, user: User,
            report_id: Annotated[int, Path(ge=1, le=INT32_MAX)], module: ModuleP,
            det: Annotated[DataEntryType | None, Query()] = None,
            missing: Annotated[bool | None, Query()] = None,
            page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    """One unit's entries of the module, ``PAGE`` at a time, with the count of matches."""
    m = ModuleType(module)
    if det is not None and MODULE_OF[det] is not m:
        return message(request, f"Type {det.value} ({det.name}) does not belong to module "
                                f"{m.value} ({m.name})", 422)
    with session_scope() as s:
        ref = drilldown.find_report(s, report_id=report_id)
        found = drilldown.module_entries(
            s, report_id, module, det=det.value if det else None, missing=missing, page=page,
            limit=PAGE, count=True) if ref else None
    if ref is None or found is None:
        return message(request, f"Report {report_id} has no module {m.value} ({m.name}) or "
                                "does not exist.", 404)
    total = found.total or 0
    return render(request, "drill_entries.html", year=ref.year, ref=ref, module=m, found=found,
                  pages=max(1, -(-total // PAGE)), types=MODULE_DATA_ENTRY_TYPES[m],
                  f={"det": det.value if det else None, "missing": missing})
