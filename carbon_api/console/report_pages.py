"""Report page: one unit's report for a year — totals, each module's stats, and the
emission-type rollup as a server-rendered SVG treemap beside a per-module table."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from carbon_api.console import adapters
from carbon_api.console.adapters import label
from carbon_api.console.treemap import layout_tree
from carbon_api.console.web import PREFIX, User, landing_year, render
from carbon_api.deps import OptionalYear
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads import queries
from carbon_domain.services.reads.queries import ReportView
from carbon_domain.stats import module_rollup_tree

router = APIRouter(prefix=PREFIX, include_in_schema=False)
WIDTH, HEIGHT = 720.0, 420.0
# Fill by scope; the label and the table carry the same information in text.
SCOPE_FILL = {1: "#c8553d", 2: "#f2a541", 3: "#588b8b", None: "#8d99ae"}


def _tree(report: ReportView) -> list[dict[str, Any]]:
    nodes = []
    for m in report.modules:
        st: dict[str, Any] = m.stats or {}
        total = float(st.get("total") or 0.0)
        if total <= 0:
            continue
        kids = module_rollup_tree(m.module_type_id, st.get("by_emission_type") or {})
        while len(kids) == 1 and kids[0].get("children"):  # a lone root repeats the module
            kids = kids[0]["children"]
        nodes.append({"path": label(m.module_name), "kg": total, "scope": None,
                      "children": kids})
    return nodes


def _short(path: str) -> str:
    return label(str(path).rsplit("__", 1)[-1])


def treemap(report: ReportView) -> list[dict[str, Any]]:
    rects = []
    for r, level in layout_tree(_tree(report), WIDTH, HEIGHT, depth=3):
        n = r.item
        name = _short(n["path"])
        rects.append({"x": round(r.x, 1), "y": round(r.y, 1), "w": round(r.w, 1),
                      "h": round(r.h, 1), "level": level, "name": name,
                      "kg": float(n["kg"]), "scope": n.get("scope"),
                      "fill": "#f4f4f4" if level == 0 else SCOPE_FILL.get(n.get("scope"),
                                                                          "#8d99ae"),
                      "show_label": r.w > 60 and r.h > 18})
    return rects


@router.get("/reports")
def report_page(request: Request, user: User,
                year: OptionalYear = None,
                unit: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    if year is None:  # "Reports" without a year opens the latest year with data
        year = landing_year()
    with session_scope() as s:
        units = queries.report_units(s, year)
        known = unit in {c for c, _ in units}
        code = unit if known else (units[0][0] if units else None)
        found = queries.list_reports(s, year=year, unit_code=code, limit=1) if code else None
        # Beside the results.csv links: the year's numbers not up to date, said before a click.
        warning = adapters.results_warning(s, year) if code else None
    report = found[0][0] if found and found[0] else None
    # A unit asked for that has no report that year (a mistyped link, a unit of another
    # year): say so above the first unit's report instead of showing it as if asked for.
    unknown_unit = unit if unit and not known else None
    return render(request, "report.html", year=year, units=units, code=code, report=report,
                  unknown_unit=unknown_unit, results_warning=warning,
                  rects=treemap(report) if report else [], width=WIDTH, height=HEIGHT,
                  scope_fill=SCOPE_FILL)
