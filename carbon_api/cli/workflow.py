"""Operator work from the terminal: ingest files, recalculate, see status, jobs, pipelines.

With the embedded default (no broker configured) each command runs an in-process worker
and waits; against Redis it dispatches to the external workers (``--wait`` to follow).
"""

from __future__ import annotations

from contextlib import nullcontext
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from carbon_api.cli.common import JsonFlag, console, error, info, json_out, new_typer

cli = new_typer()
ingest_app = new_typer(help="Upload a CSV through the same path as the API.")
cli.add_typer(ingest_app, name="ingest")



def _check_year(year: int) -> int:
    # A callback, not min/max: a user mistake is one red line, not a usage panel.
    if not 2000 <= year <= 2100:
        error(f"--year {year} is out of range (2000-2100)")
    return year


YearOpt = Annotated[int, typer.Option("--year", "-y", callback=_check_year,
                                      help="Report year (2000-2100).")]
WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait",
                                       help="Follow the pipeline until it ends.")]


class ReferenceKind(str, Enum):
    stations = "stations"
    building_rooms = "building-rooms"
    exchange_rates = "exchange-rates"


def _embedded() -> bool:
    from carbon_domain.settings import get_settings
    return get_settings().embedded_broker


def _run(start: Any, wait: bool, as_json: bool) -> None:
    """Start work, then follow it (always in embedded mode: the worker lives in-process)."""
    from carbon_api.cli.follow import follow
    from carbon_tasks.embedded import ensure_schema, worker_if_embedded
    from carbon_tasks.operations import DispatchFailed

    ensure_schema()
    embedded = _embedded()
    with worker_if_embedded() if embedded else nullcontext():
        try:
            accepted = start()
        except DispatchFailed as exc:
            error(f"job {exc.accepted.job_id} is saved but the broker is unreachable ({exc});"
                  " the reconciler dispatches it once the broker is back")
        status = None
        if wait or embedded:
            status = follow(accepted.pipeline_id, quiet=as_json)
    out = {**accepted.as_dict(), "pipeline_status": status}
    if as_json:
        json_out(out)
    else:
        console.print(f"job {accepted.job_id} · pipeline {accepted.pipeline_id}: {accepted.message}")
        if status:
            style = {"SUCCESS": "green", "PARTIAL": "yellow"}.get(status, "red")
            console.print(f"pipeline [{style}]{status}[/]")
    if status in ("FAILED", "ABORTED"):
        raise typer.Exit(2)


def _read(path: Path) -> bytes:
    if not path.is_file():
        error(f"no such file: {path}")
    return path.read_bytes()


def _module_det(module: str, det: str | None) -> tuple[int, int | None]:
    from carbon_domain.catalog import parse_data_entry_type, parse_module

    return parse_module(module).value, parse_data_entry_type(det).value if det else None


@ingest_app.command("factors")
def ingest_factors(file: Path, module: Annotated[str, typer.Option("--module", "-m")],
                   year: YearOpt, det: Annotated[str | None, typer.Option("--det", "-d")] = None,
                   recalculate: bool = False,
                   merge: Annotated[bool, typer.Option(
                       "--merge", help="Only insert and update (a partial file); by default "
                                       "the file is the factor set of its types and factors "
                                       "absent from it are retired.")] = False,
                   wait: WaitOpt = False, as_json: JsonFlag = False) -> None:
    """Upload a factor CSV: the factor set of its type(s), upserted in place, absent factors
    retired (`--merge`: additive); `--recalculate` also recalculates."""
    from carbon_tasks.operations import start_upload

    m, d = _module_det(module, det)
    content = _read(file)
    _run(lambda: start_upload("factors", content, filename=file.name, module=m, det=d,
                              year=year, recalculate=recalculate, created_by="cli",
                              mode="merge" if merge else "replace"),
         wait, as_json)


@ingest_app.command("data-entries")
def ingest_entries(file: Path, module: Annotated[str, typer.Option("--module", "-m")],
                   year: YearOpt, det: Annotated[str | None, typer.Option("--det", "-d")] = None,
                   wait: WaitOpt = False, as_json: JsonFlag = False) -> None:
    """Replace the year's CSV entries of the type(s), then recalculate and aggregate."""
    from carbon_tasks.operations import start_upload

    m, d = _module_det(module, det)
    content = _read(file)
    _run(lambda: start_upload("data-entries", content, filename=file.name, module=m, det=d,
                              year=year, created_by="cli"), wait, as_json)


@ingest_app.command("units")
def ingest_units(file: Path, year: YearOpt, wait: WaitOpt = False,
                 as_json: JsonFlag = False) -> None:
    """Create units and their report (with its 8 modules) for the year."""
    from carbon_tasks.operations import start_upload

    content = _read(file)
    _run(lambda: start_upload("units", content, filename=file.name, year=year,
                              created_by="cli"), wait, as_json)


@ingest_app.command("reference")
def ingest_reference(kind: ReferenceKind, file: Path, wait: WaitOpt = False,
                     as_json: JsonFlag = False) -> None:
    """Upload stations, building rooms or exchange rates."""
    from carbon_tasks.operations import start_upload

    content = _read(file)
    _run(lambda: start_upload(kind.value, content, filename=file.name, created_by="cli"),
         wait, as_json)


@cli.command("recalc")
def recalc(module: str, det: Annotated[str | None, typer.Argument()] = None, *,
           year: YearOpt, all_types: Annotated[bool, typer.Option(
               "--all", help="Every type of the module, not only the stale ones.")] = False,
           wait: WaitOpt = False, as_json: JsonFlag = False) -> None:
    """Recalculate one data entry type, or a module's stale types (`--all`: every type)."""
    from carbon_tasks import operations as ops

    m, d = _module_det(module, det)
    if d is not None:
        _run(lambda: ops.trigger_recalculation(module=m, det=d, year=year, created_by="cli"),
             wait, as_json)
    else:
        _run(lambda: ops.trigger_module_recalculation(module=m, year=year,
                                                      only_stale=not all_types,
                                                      created_by="cli"), wait, as_json)


@cli.command("status")
def status(year: YearOpt, as_json: JsonFlag = False) -> None:
    """Which modules and data entry types need recalculation for a year."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.status import recalculation_status
    from carbon_tasks.embedded import ensure_schema

    ensure_schema()
    with session_scope() as s:
        rows = recalculation_status(s, year)
    if as_json:
        json_out(rows)
        return
    if not rows:
        console.print(f"No factor or data uploads for {year} yet.")
        return
    t = Table(title=f"Recalculation status {year}")
    for col in ("module", "type", "stale", "in progress", "last input job", "last recalc job"):
        t.add_column(col)
    for m in rows:
        for d in m["data_entry_types"]:
            t.add_row(m["module_name"], d["data_entry_type_name"],
                      "[red]yes[/]" if d["needs_recalculation"] else "[green]no[/]",
                      "yes" if d["recalculation_in_progress"] else "",
                      f"{d['last_input_job_id']} {d['last_input_job_type']}"
                      f" {d['last_input_job_result']}",
                      f"{d['last_recalculation_job_id'] or '-'}"
                      f" {d['last_recalculation_job_result'] or ''}")
    console.print(t)


@cli.command("jobs")
def jobs(pipeline: Annotated[str | None, typer.Option("--pipeline", "-p")] = None,
         state: Annotated[str | None, typer.Option("--state")] = None,
         limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
         as_json: JsonFlag = False) -> None:
    """The most recent jobs (newest first)."""
    import uuid

    from sqlalchemy import select

    from carbon_domain.db.models import DataIngestionJob as Job
    from carbon_domain.db.session import session_scope
    from carbon_tasks.embedded import ensure_schema

    ensure_schema()
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if pipeline:
        try:
            q = q.where(Job.pipeline_id == uuid.UUID(pipeline))
        except ValueError:
            error(f"not a pipeline id: {pipeline!r}")
    if state:
        from carbon_domain.db.enums import JobState
        if state.upper() not in JobState.__members__:
            error(f"unknown job state {state!r}; expected one of {', '.join(JobState)}")
        q = q.where(Job.state == state.upper())
    from carbon_domain.services.queries import job_dict

    with session_scope() as s:
        rows = [job_dict(j) for j in s.scalars(q)]
    if as_json:
        json_out(rows)
        return
    t = Table(title="Jobs")
    for col in ("id", "type", "module", "det", "year", "state", "result", "progress", "message"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(str(r["id"]), r["job_type"], str(r["module_type_id"] or ""),
                  str(r["data_entry_type_id"] or ""), str(r["year"] or ""), r["state"],
                  r["result"] or "", f"{r['progress']['done']}/{r['progress']['total']}",
                  (r["status_message"] or "")[:80])
    console.print(t)


@cli.command("pipelines")
def pipelines(status_filter: Annotated[str | None, typer.Option("--status")] = None,
              limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
              as_json: JsonFlag = False) -> None:
    """The most recent pipelines (newest first)."""
    from sqlalchemy import select

    from carbon_domain.db.models import Pipeline
    from carbon_domain.db.session import session_scope
    from carbon_tasks.embedded import ensure_schema

    ensure_schema()
    q = select(Pipeline).order_by(Pipeline.created_at.desc()).limit(limit)
    if status_filter:
        from carbon_domain.db.enums import PipelineStatus
        if status_filter.upper() not in PipelineStatus.__members__:
            error(f"unknown pipeline status {status_filter!r};"
                  f" expected one of {', '.join(PipelineStatus)}")
        q = q.where(Pipeline.status == status_filter.upper())
    with session_scope() as s:
        rows = [{"id": str(p.id), "kind": p.kind, "status": p.status,
                 "module_type_id": p.module_type_id, "year": p.year, "jobs": p.job_count,
                 "errors": p.error_count, "created_by": p.created_by,
                 "created_at": p.created_at, "finished_at": p.finished_at,
                 "last_error": p.last_error} for p in s.scalars(q)]
    if as_json:
        json_out(rows)
        return
    t = Table(title="Pipelines")
    for col in ("id", "kind", "status", "module", "year", "jobs", "errors", "created"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(r["id"], r["kind"], r["status"], str(r["module_type_id"] or ""),
                  str(r["year"] or ""), str(r["jobs"]), str(r["errors"]),
                  f"{r['created_at']:%Y-%m-%d %H:%M:%S}")
    console.print(t)


@cli.command("wait")
def wait(pipeline: str, timeout: Annotated[float, typer.Option(min=1)] = 3600,
         as_json: JsonFlag = False) -> None:
    """Follow a pipeline until it ends; exit 2 if it FAILED or was ABORTED."""
    import uuid

    from carbon_api.cli.follow import follow

    try:
        uuid.UUID(pipeline)
    except ValueError:
        error(f"not a pipeline id: {pipeline!r}")
    try:
        final = follow(pipeline, timeout=timeout, quiet=as_json)
    except TimeoutError as exc:
        error(str(exc))
    if as_json:
        json_out({"pipeline_id": pipeline, "status": final})
    else:
        console.print(f"pipeline {pipeline}: {final}")
    if final in ("FAILED", "ABORTED"):
        raise typer.Exit(2)


@cli.command("abort")
def abort(pipeline: str, as_json: JsonFlag = False) -> None:
    """Abort a pipeline: finish its active jobs as ERROR and revoke outstanding tasks."""
    import uuid

    from carbon_tasks.operations import abort_pipeline

    try:
        uuid.UUID(pipeline)
    except ValueError:
        error(f"not a pipeline id: {pipeline!r}")
    try:
        out = abort_pipeline(pipeline, "cli")
    except LookupError as exc:
        error(str(exc))
    if as_json:
        json_out(out)
    else:
        info(f"aborted {len(out['aborted_job_ids'])} jobs of pipeline {pipeline}")


@cli.command("reconcile")
def reconcile(as_json: JsonFlag = False) -> None:
    """Run the reconciler once, here (beat runs it every minute)."""
    from carbon_tasks.reconcile import reconcile as task

    out = task.apply().get()
    json_out(out) if as_json else console.print(out)
