"""See and control work from the terminal: recalculation status, jobs, pipelines, wait, abort.

Listings fit an 80-column terminal (:func:`carbon_api.cli.common.new_table`); pipelines are
shown by the first 8 characters of their id, which every command here accepts (``--json``
prints full ids).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer

from carbon_api.cli.common import (
    JsonFlag,
    console,
    duration,
    error,
    info,
    json_out,
    new_table,
    new_typer,
)
from carbon_api.cli.workflow import _check_year

cli = new_typer()


_STATE_WORD = {"up_to_date": "[green]up to date[/]", "needs_recalculation": "[red]stale[/]",
               "recalculating": "[cyan]running[/]", "failed": "[red]failed[/]",
               "incomplete": "[yellow]incomplete[/]"}
StaleOnly = Annotated[bool, typer.Option(
    "--stale-only", help="Only what monitoring polls: types needing recalculation for longer "
                         "than --older-than, and types whose last run failed (every year "
                         "unless --year); the same as GET /v1/health/stale-stats.")]
OlderThan = Annotated[float, typer.Option(
    "--older-than", min=0, help="With --stale-only: seconds a type must have been stale.")]


def _year(year: int | None) -> int | None:
    return None if year is None else _check_year(year)


@cli.command("status")
def status(year: Annotated[int | None, typer.Option(
               "--year", "-y", callback=_year,
               help="Report year (2000-2100); required unless --stale-only.")] = None,
           as_json: JsonFlag = False, stale_only: StaleOnly = False,
           older_than: OlderThan = 0.0) -> None:
    """Each data entry type's one state for a year (up to date, stale with its reasons,
    running with its progress, failed or aborted with where it stopped, incomplete)."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.status import recalculation_status
    from carbon_tasks.embedded import ensure_schema

    if stale_only:
        _stale_only(year, older_than, as_json)
        return
    if year is None:
        error("--year is required (or use --stale-only)")
    ensure_schema()
    with session_scope() as s:
        rows = recalculation_status(s, year)
    if as_json:
        json_out(rows)
        return
    if not rows:
        console.print(f"No factor or data uploads for {year} yet.")
        return
    # One heading row per module instead of a module column: 80 columns hold the longest
    # type name (35 characters) with room left for the job columns.
    t = new_table(f"Recalculation status {year}",
                  ("module / type", "stale", "state", "last input job:text",
                   "last recalc job:text"))
    notes: list[str] = []
    for m in rows:
        t.add_row(f"[bold]{m['module_name']}[/]", "", _STATE_WORD[m["state"]], "", "")
        for d in m["data_entry_types"]:
            t.add_row(f"  {d['data_entry_type_name']}",
                      "[red]yes[/]" if d["needs_recalculation"] else "[green]no[/]",
                      _STATE_WORD[d["state"]],
                      f"{d['last_input_job_id']} {d['last_input_job_type']}"
                      f" {d['last_input_job_result']}",
                      f"{d['last_recalculation_job_id'] or '-'}"
                      f" {d['last_recalculation_job_result'] or ''}")
            notes += [f"{d['data_entry_type_name']}: {why}" for why in (
                d["reasons"] or ([d["state_detail"]] if d["state_detail"] else []))]
    console.print(t)
    for note in notes:
        console.print(note, markup=False, highlight=False)


def _stale_only(year: int | None, older_than: float, as_json: bool) -> None:
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.stale_stats import stale_stats
    from carbon_tasks.embedded import ensure_schema

    ensure_schema()
    with session_scope() as s:
        report = stale_stats(s, older_than, year)
    if as_json:
        json_out(report)
        return
    if not report.stale and not report.failed:
        console.print(f"Nothing has needed recalculation for {older_than:g} s or more, "
                      "and no last run failed.")
    for title, rows in (("Stale", report.stale), ("Last run failed", report.failed)):
        for r in rows:
            age = "" if r.since is None else f" for {duration(r.since, report.checked_at)}"
            console.print(f"{title}: {r.year} {r.module_name}/{r.data_entry_type_name}{age}: "
                          f"{'; '.join(r.reasons)}", markup=False, highlight=False)


def _pipeline_id(text: str) -> uuid.UUID:
    """A full pipeline id, or the unique pipeline whose id starts with ``text`` (listings
    show the first 8 characters, as git and docker do)."""
    from sqlalchemy import String, cast, func, select

    from carbon_domain.db.models import Pipeline
    from carbon_domain.db.session import session_scope
    from carbon_tasks.embedded import ensure_schema

    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    prefix = text.strip().lower().replace("-", "")
    if not 4 <= len(prefix) < 32 or any(c not in "0123456789abcdef" for c in prefix):
        error(f"not a pipeline id: {text!r} (a UUID, or its first 4 or more characters)")
    ensure_schema()
    # PostgreSQL renders a uuid with hyphens, SQLite stores 32 hex digits: compare without.
    hexid = func.replace(cast(Pipeline.id, String), "-", "")
    with session_scope() as s:
        found = list(s.scalars(select(Pipeline.id).where(hexid.like(f"{prefix}%")).limit(2)))
    if not found:
        error(f"no pipeline id starts with {text!r}")
    if len(found) > 1:
        error(f"pipeline id prefix {text!r} is ambiguous; give more characters")
    return found[0]


def _short(pipeline_id: Any) -> str:
    return str(pipeline_id)[:8] if pipeline_id else ""


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
    from sqlalchemy import select

    from carbon_domain.db.enums import JobState
    from carbon_domain.db.models import DataIngestionJob as Job
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.queries import job_dict
    from carbon_tasks.embedded import ensure_schema

    ensure_schema()
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if pipeline:
        q = q.where(Job.pipeline_id == _pipeline_id(pipeline))
    if state:
        if state.upper() not in JobState.__members__:
            error(f"unknown job state {state!r}; expected one of {', '.join(JobState)}")
        q = q.where(Job.state == state.upper())
    with session_scope() as s:
        rows = [job_dict(j) for j in s.scalars(q)]
    if as_json:
        json_out(rows)
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
    console.print(t)


@cli.command("pipelines")
def pipelines(status_filter: Annotated[str | None, typer.Option("--status")] = None,
              limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
              as_json: JsonFlag = False) -> None:
    """The most recent pipelines (newest first; `--json` for full ids)."""
    from sqlalchemy import func, select

    from carbon_domain.db.enums import PipelineStatus
    from carbon_domain.db.models import DataIngestionJob as Job
    from carbon_domain.db.models import Pipeline
    from carbon_domain.db.session import session_scope
    from carbon_tasks.embedded import ensure_schema

    ensure_schema()
    # Its job rows, counted: the stored job_count is only written when the status is
    # recomputed, so a queued pipeline would show 0.
    job_rows = (select(func.count()).where(Job.pipeline_id == Pipeline.id)
                .correlate(Pipeline).scalar_subquery())
    q = select(Pipeline, job_rows).order_by(Pipeline.created_at.desc()).limit(limit)
    if status_filter:
        if status_filter.upper() not in PipelineStatus.__members__:
            error(f"unknown pipeline status {status_filter!r};"
                  f" expected one of {', '.join(PipelineStatus)}")
        q = q.where(Pipeline.status == status_filter.upper())
    with session_scope() as s:
        rows = [{"id": str(p.id), "kind": p.kind, "status": p.status,
                 "module_type_id": p.module_type_id, "year": p.year, "jobs": n,
                 "errors": p.error_count, "created_by": p.created_by,
                 "created_at": p.created_at, "finished_at": p.finished_at,
                 "duration": duration(p.created_at, p.finished_at),
                 "last_error": p.last_error} for p, n in s.execute(q)]
    if as_json:
        json_out(rows)
        return
    t = new_table("Pipelines", ("id", "kind", "status", "mod", "year", "jobs:num",
                                "errors:num", "created", "took:num"))
    for r in rows:
        style = {"SUCCESS": "green", "PARTIAL": "yellow", "RUNNING": ""}.get(r["status"], "red")
        t.add_row(_short(r["id"]), r["kind"], f"[{style}]{r['status']}[/]" if style
                  else r["status"], str(r["module_type_id"] or ""), str(r["year"] or ""),
                  str(r["jobs"]), str(r["errors"]), f"{r['created_at']:%m-%d %H:%M:%S}",
                  r["duration"])
    console.print(t)


@cli.command("wait")
def wait(pipeline: Annotated[str, typer.Argument(help="A pipeline id or its first characters.")],
         timeout: Annotated[float, typer.Option(min=1)] = 3600,
         as_json: JsonFlag = False) -> None:
    """Follow a pipeline until it ends; exit 2 if it FAILED or was ABORTED."""
    from carbon_api.cli.follow import follow

    pid = str(_pipeline_id(pipeline))
    try:
        final = follow(pid, timeout=timeout, quiet=as_json)
    except TimeoutError as exc:
        error(str(exc))
    if as_json:
        json_out({"pipeline_id": pid, "status": final})
    else:
        console.print(f"pipeline {pid}: {final}")
    if final in ("FAILED", "ABORTED"):
        raise typer.Exit(2)


@cli.command("abort")
def abort(pipeline: Annotated[str, typer.Argument(help="A pipeline id or its first characters.")],
          as_json: JsonFlag = False) -> None:
    """Abort a pipeline: finish its active jobs as ERROR and revoke outstanding tasks."""
    from carbon_tasks.operations import abort_pipeline

    pid = str(_pipeline_id(pipeline))
    try:
        out = abort_pipeline(pid, "cli")
    except LookupError as exc:
        error(str(exc))
    if as_json:
        json_out(out)
    else:
        info(f"aborted {len(out['aborted_job_ids'])} jobs of pipeline {pid}")
