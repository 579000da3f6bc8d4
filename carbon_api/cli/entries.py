"""The drill-down from the terminal: ``carbon entries REPORT MODULE`` (a report module's
entries, a page at a time, each with its kg and factor or why it has none) and ``carbon
explain ENTRY_ID`` (one entry recomputed by the engine: the factor versions and the uploads
that set them, each row's formula with its inputs, the stored rows). The same reads as
``GET /v1/reports/{id}/modules/{m}/entries`` and ``GET /v1/data-entries/{id}/explain``;
``--json`` prints the API's shape."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from carbon_api.cli.common import (
    JsonFlag,
    console,
    error,
    json_out,
    new_table,
    new_typer,
    print_table,
)
from carbon_api.cli.workflow import DetOpt
from carbon_domain.catalog import ModuleType

if TYPE_CHECKING:
    from carbon_domain.services.reads.drilldown_views import EntryExplanation, EntryPage

cli = new_typer()
BIGINT_MAX = 2**63 - 1
MODULE_HELP = "Module, by name or id: " + ", ".join(f"{m.value}={m.name}" for m in ModuleType)


def _kg(v: float | None) -> str:
    return "—" if v is None else f"{v:,.3f}"


def _pairs(d: dict[str, Any], limit: int = 3) -> str:
    """An entry's data as ``key=value, …`` (the first few keys; ``carbon explain`` shows
    them all)."""
    items = [f"{k}={v}" for k, v in d.items() if v not in (None, "")]
    more = f", … ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _report(session: Any, report: str) -> Any:
    """A report by id (``12``) or by unit code and year (``LAB-A/2025``); error if none."""
    from carbon_domain.services.reads.drilldown import find_report, why_no_report

    code, sep, year = report.rpartition("/")
    if sep:
        if not year.isdigit() or not code:
            error(f"report {report!r}: give a report id or UNIT/YEAR (e.g. LAB-A/2025)")
        found = find_report(session, unit_code=code, year=int(year))
        if found is None:
            error(why_no_report(session, code, int(year)))
    else:
        if not report.isdigit() or not 1 <= int(report) <= 2**31 - 1:
            error(f"report {report!r}: give a report id or UNIT/YEAR (e.g. LAB-A/2025)")
        found = find_report(session, report_id=int(report))
        if found is None:
            error(f"report {report} not found")
    return found


@cli.command("entries")
def entries(
    report: Annotated[str, typer.Argument(help="Report id, or UNIT/YEAR (e.g. LAB-A/2025).",
                                          show_default=False)],
    module: Annotated[str, typer.Argument(help=MODULE_HELP, show_default=False)],
    det: DetOpt = None,
    emission_type: Annotated[int | None, typer.Option(
        "--emission-type", min=1, help="Only entries with a row in this emission subtree "
                                       "(e.g. 60100), and only those rows.")] = None,
    missing: Annotated[bool | None, typer.Option(
        "--missing/--with-rows", help="Only entries without any row / only with rows.",
        show_default=False)] = None,
    page: Annotated[int, typer.Option("--page", "-p", min=1, max=1_000_000,
                                      help="1-based page.")] = 1,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500,
                                       help="Entries per page (at most 500).")] = 50,
    after: Annotated[int | None, typer.Option(
        "--after", min=0, max=BIGINT_MAX, help="Entries with a larger id (the previous "
                                               "page's last id): constant cost at any depth.")
    ] = None,
    count: Annotated[bool, typer.Option(
        "--count", help="Also count the matching entries (a pass over the module).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """A report module's entries in id order, each with its kg CO2-eq and the factor its
    rows were computed with, or the reason it has no row."""
    from carbon_api.cli.embedded import ensure_schema
    from carbon_domain.catalog import MODULE_OF, parse_data_entry_type, parse_module
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads import drilldown

    m = parse_module(module)
    d = None
    if det is not None:
        d = parse_data_entry_type(det)
        if MODULE_OF[d] is not m:
            error(f"data entry type {d.value} ({d.name}) does not belong to module {m.value}"
                  f" ({m.name})")
    if emission_type is not None and emission_type not in drilldown.module_emission_types(
            m.value):
        error(f"emission type {emission_type} is not part of module {m.value} ({m.name})")
    ensure_schema()
    with session_scope() as s:
        ref = _report(s, report)
        found = drilldown.module_entries(
            s, ref.report_id, m.value, det=d.value if d else None, emission_type=emission_type,
            missing=missing, page=page, limit=limit, after=after, count=count)
    if found is None:
        error(f"report {ref.report_id} ({ref.unit_code}, {ref.year}) has no module "
              f"{m.value} ({m.name})")
    if as_json:
        json_out(found)
        return
    _print_page(found, ref, m.name)


def _print_page(found: EntryPage, ref: Any, module: str) -> None:
    # "page 1 of 8 (395 entries)": the count is of entries, the pages are of --limit.
    total = (f" of {max(1, -(-found.total // found.limit)):,} ({found.total:,} entries)"
             if found.total is not None else "")
    t = new_table(f"Report {ref.report_id} ({escape(ref.unit_code)}, {ref.year}) · {module} · "
                  f"page {found.page}{total}",
                  ("entry:num", "type", "kg CO2-eq:num", "factor", "data / reason:text"))
    for e in found.items:
        factors = ", ".join(str(f) for f in e.factor_ids) or ("override" if e.emissions
                                                              else "—")
        note = (f"[red]{escape(e.reason or '')}[/]" if not e.emissions
                else escape(_pairs(e.data)))
        t.add_row(str(e.id), e.data_entry_type_name, _kg(e.kg_co2eq), factors, note)
    if not found.items:
        console.print("No entries match.")
        return
    print_table(t)
    if found.has_more:
        console.print(f"More: --page {found.page + 1}, or --after {found.next_after} "
                      "(constant cost at any depth).")


@cli.command("explain")
def explain(entry_id: Annotated[int, typer.Argument(min=1, max=BIGINT_MAX,
                                                    help="Data entry id.")],
            as_json: JsonFlag = False) -> None:
    """One entry recomputed by the engine: the factor versions it uses and the uploads that
    set them, each row's formula with its inputs, and whether the stored rows agree."""
    from carbon_api.cli.embedded import ensure_schema
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads.drilldown import explain_data_entry

    ensure_schema()
    with session_scope() as s:
        found = explain_data_entry(s, entry_id)
    if found is None:
        error(f"data entry {entry_id} not found")
    if as_json:
        json_out(found)
        return
    _print_explanation(found)


def _print_explanation(e: EntryExplanation) -> None:
    console.print(f"Entry {e.id}: {e.data_entry_type_name} · {ModuleType(e.module_type_id).name}"
                  f" · {e.year} · unit {escape(e.unit_code or '—')} · report {e.report_id}"
                  f" · strategy {e.strategy}")
    console.print(escape(json.dumps(e.data, ensure_ascii=False, default=str)), soft_wrap=True)
    if e.reason:
        console.print(f"[red]No row: {escape(e.reason)}[/]")
    t = new_table("Factors", ("factor:num", "version", "set by:text", "values:text"))
    for f in e.factors:
        version = f"v{f.version} ({f.change})" if f.version else "—"
        if f.retired_at:
            version += " [red]retired[/]"
        by = "\n".join(x for x in (f"job {f.set_by_job_id}" if f.set_by_job_id else "",
                                  escape(f.set_by or ""), escape(f.set_by_filename or "")) if x)
        values = "\n".join(f"{k}: {v}" for k, v in f.values.items())
        t.add_row(str(f.id), version, by or "—", escape(values))
    if e.factors:
        print_table(t)
    t = new_table("Rows (recomputed now)", ("emission type", "kg CO2-eq:num", "factor:num",
                                            "formula:text"))
    for r in e.rows:
        inputs = ", ".join(f"{k}={v:g}" for k, v in r.inputs.items())
        t.add_row(r.emission_type_path, _kg(r.kg_co2eq), str(r.factor_id or "—"),
                  escape(f"{r.formula} = {r.substituted}" + (f"  [{inputs}]" if inputs else "")))
    if e.rows:
        print_table(t)
    t = new_table("Stored rows", ("emission type", "kg CO2-eq:num", "factor", "agrees"))
    for s in e.stored_rows:
        used = (f"{s.factor_id} v{s.factor_version}" if s.factor_version else
                str(s.factor_id or "—"))
        t.add_row(s.emission_type_path, _kg(s.kg_co2eq), used,
                  "yes" if s.agrees else "[red]no (stale)[/]")
    if e.stored_rows:
        print_table(t)
    else:
        console.print("No stored row.")
    if not e.stored_rows_agree:
        console.print("[yellow]The stored rows differ from a recomputation now: the type "
                      "needs recalculation.[/]")
