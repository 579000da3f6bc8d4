"""What the work is at from the terminal: each type's recalculation status, the recent jobs
(pipelines, following and aborting them: cli/pipelines.py; ``carbon recover``:
cli/recovery.py).

Listings fit an 80-column terminal (:func:`carbon_api.cli.common.new_table`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from carbon_api.cli.common import (
    JsonFlag,
    console,
    duration,
    error,
    json_out,
    new_table,
    new_typer,
    print_table,
)
from carbon_api.cli.workflow import check_year

cli = new_typer()


# The status service's own labels ("⚠ needs recalculation"), the console's badges: one
# wording on every surface. Only the colour is the terminal's.
_STATE_STYLE = {"up_to_date": "green", "needs_recalculation": "red", "recalculating": "cyan",
                "failed": "red", "incomplete": "yellow"}


def _state(row: dict[str, Any]) -> str:
    from rich.markup import escape

    return f"[{_STATE_STYLE.get(row['state'], 'default')}]{escape(row['state_label'])}[/]"


StaleOnly = Annotated[bool, typer.Option(
    "--stale-only", help="Only what monitoring polls: types needing recalculation for longer "
                         "than --older-than, types whose last run failed and modules whose "
                         "last aggregation failed (every year unless --year); the same as "
                         "GET /v1/health/stale-stats.")]
OlderThan = Annotated[float, typer.Option(
    "--older-than", min=0, help="With --stale-only: seconds a type must have been stale.")]


def _year(year: int | None) -> int | None:
    return None if year is None else check_year(year)


@cli.command("status")
def status(year: Annotated[int | None, typer.Option(
               "--year", "-y", callback=_year,
               help="Report year (2000-2100); required unless --stale-only.")] = None,
           as_json: JsonFlag = False, stale_only: StaleOnly = False,
           older_than: OlderThan = 0.0) -> None:
    """Each data entry type's one state for a year (up to date, stale with its reasons,
    running with its progress, failed or aborted with where it stopped, incomplete)."""
    from carbon_api.cli.embedded import ensure_schema
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads.status import year_status
    from carbon_domain.services.reads.year_data import year_data

    if stale_only:
        _stale_only(year, older_than, as_json)
        return
    if year is None:
        error("--year is required (or use --stale-only)")
    ensure_schema()
    with session_scope() as s:
        rows = [asdict(m) for m in year_status(s, year)]
        first = None if rows else year_data(s, year).next_step
    if as_json:
        json_out(rows)
        return
    if not rows:
        console.print(f"No factor or data uploads for {year} yet" + (
            f": {first} (`carbon ingest units|factors|data-entries FILE -y {year}`, or the "
            "console's data page)." if first else "."), markup=False, highlight=False)
        return
    # One heading row per module instead of a module column, and one column for both jobs:
    # 80 columns hold the longest type name (35 characters) and the longest module state
    # ("⚠ 7 types need recalculation") with 12 left for the jobs, folded at spaces (two
    # job columns of 6 each were cropped: "184 S" for "184 SUCCESS").
    t = new_table(f"Recalculation status {year}",
                  ("module / type", "state", "last input → recalc job:text"))
    notes: list[str] = []
    for m in rows:
        t.add_row(f"[bold]{m['module_name']}[/]", _state(m), "")
        if m["state_detail"]:  # why its totals were not updated
            notes.append(f"{m['module_name']}: {m['state_label']} — {m['state_detail']}")
        for d in m["data_entry_types"]:
            t.add_row(f"  {d['data_entry_type_name']}", _state(d),
                      f"{d['last_input_job_id']} {d['last_input_job_type']}"
                      f" {d['last_input_job_result']} → "
                      f"{d['last_recalculation_job_id'] or '-'}"
                      f" {d['last_recalculation_job_result'] or ''}".rstrip())
            notes += [f"{d['data_entry_type_name']}: {why}" for why in (
                d["reasons"] or ([d["state_detail"]] if d["state_detail"] else []))]
    print_table(t)
    for note in notes:
        console.print(note, markup=False, highlight=False)


def _stale_only(year: int | None, older_than: float, as_json: bool) -> None:
    from carbon_api.cli.embedded import ensure_schema
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads.stale_stats import stale_stats

    ensure_schema()
    with session_scope() as s:
        report = stale_stats(s, older_than, year)
    if as_json:
        json_out(report)
        return
    if not report.stale and not report.failed and not report.failed_modules:
        console.print(f"Nothing has needed recalculation for {older_than:g} s or more, "
                      "and no last run or aggregation failed.")
    for title, rows in (("Stale", report.stale), ("Last run failed", report.failed)):
        for r in rows:
            age = "" if r.since is None else f" for {duration(r.since, report.checked_at)}"
            console.print(f"{title}: {r.year} {r.module_name}/{r.data_entry_type_name}{age}: "
                          f"{'; '.join(r.reasons)}", markup=False, highlight=False)
    for m in report.failed_modules:  # the module state's own label and reason
        age = "" if m.since is None else f" for {duration(m.since, report.checked_at)}"
        console.print(f"{m.year} {m.module_name}: {m.state_label}{age} — "
                      f"{'; '.join(m.reasons)}", markup=False, highlight=False)


# What `carbon jobs` says before the first upload: every job starts from one, and the units
# come first (they make a year's reports: year_data.next_step, `carbon status`'s words).
NO_JOBS_YET = ("No jobs yet: every job starts with an upload. Upload a year's units first "
               "(they make its reports): `carbon ingest units FILE -y YEAR`; then its factors "
               "and data entries: `carbon ingest factors|data-entries FILE -m MODULE -y YEAR` "
               "(or the console's data page).")


def _job_state(r: dict[str, Any]) -> str:
    """A finished job shows its result, an active one its state."""
    if r["state"] == "FINISHED" and r["result"]:
        style = {"SUCCESS": "green", "WARNING": "yellow", "ERROR": "red"}.get(r["result"], "")
        return f"[{style}]{r['result']}[/]" if style else r["result"]
    return r["state"]


@cli.command("jobs")
def jobs(pipeline: Annotated[str | None, typer.Option(
             "--pipeline", "-p", help="A pipeline id or its first characters.")] = None,
         state: Annotated[str | None, typer.Option("--state")] = None,
         limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
         as_json: JsonFlag = False) -> None:
    """The most recent jobs (newest first)."""
    from carbon_api.cli.embedded import ensure_schema
    from carbon_api.cli.pipelines import resolve_pipeline_id
    from carbon_domain.db.enums import JobState
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads.queries import list_jobs

    ensure_schema()
    pid = resolve_pipeline_id(pipeline) if pipeline else None
    if state and state.upper() not in JobState.__members__:
        error(f"unknown job state {state!r}; expected one of {', '.join(JobState)}")
    with session_scope() as s:
        rows = [asdict(j) for j in list_jobs(s, pipeline_id=pid,
                                             state=state.upper() if state else None,
                                             limit=limit)]
        # Nothing listed: no job at all yet, or none the filters match?
        none_yet = not rows and (not (pid or state) or not list_jobs(s, limit=1))
    if as_json:
        json_out(rows)
        return
    if not rows:  # an empty table said nothing of why, nor what to do
        console.print(NO_JOBS_YET if none_yet else
                      "No job" + (f" of pipeline {pipeline}" if pid else "")
                      + (f" in state {state.upper()}" if state else "") + ".",
                      markup=False, highlight=False)
        return
    t = new_table("Jobs", ("id", "type", "year mod/det", "state", "done:num", "took:num",
                           "message:text"))
    for r in rows:
        target = "/".join(str(v) for v in (r["module_type_id"], r["data_entry_type_id"]) if v)
        done, total = r["progress"]["done"], r["progress"]["total"]
        t.add_row(str(r["id"]), r["job_type"], f"{r['year'] or ''} {target}".strip(),
                  _job_state(r), f"{done}/{total}" if total else "",
                  duration(r["started_at"], r["finished_at"]),
                  (r["status_message"] or "")[:160])
    print_table(t)
