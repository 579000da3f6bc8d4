"""Operator work from the terminal: ingest files, recalculate, reconcile (listings and
following are in ``listings.py`` and ``pipelines.py``).

With the embedded default (no broker configured) each command runs an in-process worker
and waits; against Redis it dispatches to the external workers (``--wait`` to follow).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from carbon_api.cli.common import (
    JsonFlag,
    console,
    error,
    json_out,
    new_typer,
    warn,
)
from carbon_domain import task_names as tn
from carbon_domain.catalog import MODULE_OF, YEAR_MAX, YEAR_MIN, DataEntryType, ModuleType
from carbon_domain.upload_kinds import ReferenceKind, UploadKind, UploadMode

cli = new_typer()
ingest_app = new_typer(help="Upload a CSV through the same path as the API.")
cli.add_typer(ingest_app, name="ingest")



def check_year(year: int) -> int:
    # A callback, not min/max: a user mistake is one red line, not a usage panel.
    if not YEAR_MIN <= year <= YEAR_MAX:
        error(f"--year {year} is out of range ({YEAR_MIN}-{YEAR_MAX})")
    return year


YearOpt = Annotated[int, typer.Option("--year", "-y", callback=check_year,
                                      help=f"Report year ({YEAR_MIN}-{YEAR_MAX}).")]
WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait",
                                       help="Follow the pipeline until it ends.")]
UnknownColsOpt = Annotated[bool, typer.Option(
    "--allow-unknown-columns", help="Load the file even though a column looks like a "
                                    "misspelling of an expected one (refused by default); "
                                    "ignored columns are listed in the job's message.")]
TimeoutOpt = Annotated[float, typer.Option(
    min=1, help="With --wait: give up after this many seconds (exit 1; the work goes on).")]


def _types_of(module: ModuleType) -> list[DataEntryType]:
    return [d for d in DataEntryType if MODULE_OF[d] is module]


_MODULE_HELP = "Module, by name or id: " + ", ".join(f"{m.value}={m.name}" for m in ModuleType)
_DET_HELP = "Data entry type of the module, by name or id: " + "; ".join(
    f"{m.name}: " + ", ".join(f"{d.value}={d.name}" for d in _types_of(m)) for m in ModuleType)
ModuleOpt = Annotated[str, typer.Option("--module", "-m", help=_MODULE_HELP)]
DetOpt = Annotated[str | None, typer.Option("--det", "-d", help=_DET_HELP)]


def _embedded() -> bool:
    from carbon_domain.settings import get_settings
    return get_settings().embedded_broker


def _warn_if_unconsumed(task_names: Sequence[str]) -> None:
    """Warn at once when no worker consumes a queue the pipeline needs instead of waiting
    silently until --timeout. Returns as soon as the answering workers cover every queue;
    only a missing queue waits the 1 s broadcast timeout."""
    from carbon_tasks.app import app
    from carbon_tasks.workers import unconsumed_queues

    needed = list(dict.fromkeys(app.amqp.router.route({}, name)["queue"].name
                                for name in task_names))
    check = unconsumed_queues(needed, timeout=1.0)
    if check.missing:
        missing = check.missing
        who = f"{check.answered} worker(s) answered" if check.answered else "no worker answered"
        warn(f"warning: nothing consumes queue {', '.join(missing)} ({who} within 1 s); the "
             f"pipeline waits until `carbon worker --queues {','.join(missing)}` runs")


def run_operation(start: Any, wait: bool, as_json: bool, *, tasks: Sequence[str] = (),
                  timeout: float = 3600.0) -> None:
    """Start work, then follow it (always in embedded mode: the worker lives in-process).
    ``tasks`` are the Celery tasks the pipeline needs (their queues are checked with --wait)."""
    from carbon_api.cli.embedded import ensure_schema, worker_if_embedded
    from carbon_api.cli.follow import end_fields, end_line, follow, warnings_of
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
        if wait and not embedded and tasks:
            _warn_if_unconsumed(tasks)
        if wait or embedded:
            try:
                status = follow(accepted.pipeline_id, timeout=timeout, quiet=as_json)
            except TimeoutError as exc:
                error(f"{exc}; it goes on running (`carbon wait {accepted.pipeline_id}`)")
    # What every surface shows: a SUCCESS with a job that ended WARNING (rows skipped, an
    # entry failed) is never a plain success (the exit code stays 0).
    warnings = warnings_of(accepted.pipeline_id, status)
    out = {**accepted.as_dict(), "pipeline_status": status, **end_fields(status, warnings)}
    if as_json:
        json_out(out)
    else:
        console.print(f"job {accepted.job_id} · pipeline {accepted.pipeline_id}:"
                      f" {accepted.message}")
        if status:
            console.print(end_line(status, warnings))
    if status in ("FAILED", "ABORTED"):
        raise typer.Exit(2)


def _read(path: Path) -> bytes:
    if not path.is_file():
        error(f"no such file: {path}")
    return path.read_bytes()


def _module_det(module: str, det: str | None) -> tuple[int, int | None]:
    from carbon_domain.catalog import parse_data_entry_type, parse_module

    m = parse_module(module)
    if det is None:
        return m.value, None
    choices = ", ".join(f"{d.value}={d.name}" for d in _types_of(m))
    try:
        d = parse_data_entry_type(det)
    except ValueError:
        error(f"unknown data entry type {det!r} for module {m.name}; expected one of {choices}")
    if MODULE_OF[d] is not m:
        error(f"data entry type {d.value} ({d.name}) does not belong to module {m.value}"
              f" ({m.name}); expected one of {choices}")
    return m.value, d.value


PreviewOpt = Annotated[bool, typer.Option(
    "--preview", help="Write nothing: print what the upload would do (entries, kg CO2-eq "
                      "before → after per module, unit and emission type).")]


@ingest_app.command(UploadKind.factors.value)
def ingest_factors(file: Path, module: ModuleOpt, year: YearOpt, det: DetOpt = None,
                   recalculate: bool = False,
                   merge: Annotated[bool, typer.Option(
                       "--merge", help="Only insert and update (a partial file); by default "
                                       "the file is the factor set of its types and factors "
                                       "absent from it are retired.")] = False,
                   allow_unknown_columns: UnknownColsOpt = False,
                   wait: WaitOpt = False, timeout: TimeoutOpt = 3600,
                   as_json: JsonFlag = False, preview: PreviewOpt = False) -> None:
    """Upload a factor CSV: the factor set of its type(s), upserted in place, absent factors
    retired (`--merge`: additive); `--recalculate` also recalculates."""
    from carbon_tasks.operations import start_upload

    m, d = _module_det(module, det)
    content = _read(file)
    if preview:
        from carbon_api.cli.previews import run_preview
        return run_preview(content, filename=file.name, module=m, det=d, year=year,
                           mode=UploadMode.of(merge), as_json=as_json,
                           timeout=timeout, embedded=_embedded(),
                           allow_unknown_columns=allow_unknown_columns)
    run_operation(lambda: start_upload(UploadKind.factors, content, filename=file.name,
                                       module=m, det=d, year=year, recalculate=recalculate,
                                       created_by="cli",
                                       mode=UploadMode.of(merge),
                                       allow_unknown_columns=allow_unknown_columns),
                  wait, as_json,
                  tasks=(tn.INGEST_FACTORS, *(tn.RECALCULATION_TASKS if recalculate else ())),
                  timeout=timeout)


@ingest_app.command(UploadKind.data_entries.value)
def ingest_entries(file: Path, module: ModuleOpt, year: YearOpt, det: DetOpt = None,
                   allow_unknown_columns: UnknownColsOpt = False, wait: WaitOpt = False,
                   timeout: TimeoutOpt = 3600, as_json: JsonFlag = False,
                   preview: PreviewOpt = False) -> None:
    """Replace the year's CSV entries of the type(s), then recalculate and aggregate."""
    from carbon_tasks.operations import start_upload

    m, d = _module_det(module, det)
    content = _read(file)
    if preview:
        from carbon_api.cli.previews import run_preview
        return run_preview(content, filename=file.name, module=m, det=d, year=year,
                           mode=UploadMode.REPLACE, as_json=as_json, timeout=timeout,
                           embedded=_embedded(), kind=UploadKind.data_entries,
                           allow_unknown_columns=allow_unknown_columns)
    run_operation(lambda: start_upload(UploadKind.data_entries, content, filename=file.name,
                                       module=m, det=d, year=year, created_by="cli",
                                       allow_unknown_columns=allow_unknown_columns), wait, as_json,
                  tasks=(tn.INGEST_DATA_ENTRIES, *tn.RECALCULATION_TASKS), timeout=timeout)


@ingest_app.command(UploadKind.units.value)
def ingest_units(file: Path, year: YearOpt, allow_unknown_columns: UnknownColsOpt = False,
                 wait: WaitOpt = False, timeout: TimeoutOpt = 3600,
                 as_json: JsonFlag = False) -> None:
    """Create units and their report (with its 8 modules) for the year."""
    from carbon_tasks.operations import start_upload

    content = _read(file)
    run_operation(lambda: start_upload(UploadKind.units, content, filename=file.name, year=year,
                                       created_by="cli",
                                       allow_unknown_columns=allow_unknown_columns), wait, as_json,
                  tasks=(tn.INGEST_UNITS,), timeout=timeout)


@ingest_app.command("reference")
def ingest_reference(kind: ReferenceKind, file: Path,
                     merge: Annotated[bool, typer.Option(
                         "--merge", help="Only insert and update (a partial file); by "
                                         "default the file is the set of its kind and rows "
                                         "absent from it are retired.")] = False,
                     allow_unknown_columns: UnknownColsOpt = False, wait: WaitOpt = False,
                     timeout: TimeoutOpt = 3600, as_json: JsonFlag = False,
                     preview: PreviewOpt = False) -> None:
    """Upload stations, building rooms or exchange rates: the set of its kind, upserted in
    place, absent rows retired (`--merge`: additive)."""
    from carbon_tasks.operations import start_upload

    content = _read(file)
    if preview:
        from carbon_api.cli.previews import run_preview
        return run_preview(content, filename=file.name, module=None, det=None, year=None,
                           mode="merge" if merge else "replace", as_json=as_json,
                           timeout=timeout, embedded=_embedded(), kind=kind.value,
                           allow_unknown_columns=allow_unknown_columns)
    run_operation(lambda: start_upload(kind.value, content, filename=file.name, created_by="cli",
                                       mode=UploadMode.of(merge),
                                       allow_unknown_columns=allow_unknown_columns),
                  wait, as_json, tasks=(tn.INGEST_REFERENCE,), timeout=timeout)


@cli.command("recalc")
def recalc(module: Annotated[str, typer.Argument(help=_MODULE_HELP, show_default=False)],
           det: Annotated[str | None, typer.Argument(help=_DET_HELP, show_default=False)] = None,
           *, year: YearOpt, all_types: Annotated[bool, typer.Option(
               "--all", help="Every type of the module, not only the stale ones.")] = False,
           wait: WaitOpt = False, timeout: TimeoutOpt = 3600, as_json: JsonFlag = False) -> None:
    """Recalculate one data entry type, or a module's stale types (`--all`: every type)."""
    from carbon_tasks import operations as ops

    m, d = _module_det(module, det)
    if d is not None:
        run_operation(lambda: ops.trigger_recalculation(module=m, det=d, year=year,
                                                        created_by="cli"),
                      wait, as_json, tasks=tn.RECALCULATION_TASKS, timeout=timeout)
    else:
        run_operation(lambda: ops.trigger_module_recalculation(module=m, year=year,
                                                               only_stale=not all_types,
                                                               created_by="cli"),
                      wait, as_json, tasks=tn.RECALCULATION_TASKS, timeout=timeout)


# What each figure of a reconciler pass counts (carbon_tasks/reconcile.py), in its order.
RECONCILED = (
    ("outbox", "jobs left in the outbox (saved, never sent to the broker)"),
    ("lost", "jobs lost on the broker (sent, never taken), queued again"),
    ("retried", "stuck jobs (RUNNING, no sign of life) run again"),
    ("gave_up", "stuck jobs out of attempts, ended ERROR"),
    ("module_jobs_closed", "module recalculations closed (all their types done)"),
    ("pipelines_closed", "pipelines whose status it settled"),
    ("aggregations_backfilled", "missing aggregations started"),
)
NOTHING_TO_REPAIR = ("Nothing to repair: no job left in the outbox, lost or stuck, no module "
                     "recalculation or pipeline to close, no aggregation missing.")


@cli.command("reconcile")
def reconcile(as_json: JsonFlag = False) -> None:
    """Run the reconciler once, here (beat runs it every minute)."""
    import logging

    from carbon_tasks.reconcile import reconcile as task

    # With no logging configured (a command's default), Python printed the dispatch's
    # warning on stderr beside this command's own line on the same failure.
    logging.getLogger("carbon.dispatch").addHandler(logging.NullHandler())
    out = task.apply().get()
    if as_json:
        json_out(out)
    elif "skipped" in out:
        console.print(f"Skipped: {out['skipped']} (beat's, most likely); it does the same.",
                      markup=False, highlight=False)
    elif not any(out.get(key) for key, _ in RECONCILED):
        console.print(NOTHING_TO_REPAIR, markup=False, highlight=False)
    else:  # a figure per line (it printed the task's dict, {'outbox': 0, 'lost': 0, …})
        width = max(len(text) for _, text in RECONCILED)
        console.print("Reconciler pass:", markup=False, highlight=False)
        for key, text in RECONCILED:
            console.print(f"  {text.ljust(width)}  {out.get(key, 0):>4}", markup=False,
                          highlight=False)
    if out.get("dispatch_error"):
        error(f"the broker did not take the jobs to send ({out['dispatch_error']}): they stay "
              "in the outbox, and the next pass sends them once it answers")
