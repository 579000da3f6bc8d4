"""``carbon export results|data``: the API's CSV exports, written to a file from the terminal.

Same generators as ``GET /v1/exports/...`` (``carbon_domain.services.exports.exports``), read
straight from the database; a Rich progress bar follows large detailed exports. The id of
the last recalculation the file reflects is printed (the API sends it as a header). When the
numbers are not up to date (a type of the export's scope needs recalculation, a module's
totals were not updated: the status read's state, ``exports.freshness``), a warning on
stderr names what and why; the export is still written and the exit code stays 0 (the
status pages say the same); ``--json`` carries ``up_to_date``, ``stale_types``,
``stale_modules``, ``failed_types`` (last recalculation failed: numbers of the run before)
and ``warning``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from carbon_api.cli.common import (
    JsonFlag,
    console,
    err_console,
    error,
    json_out,
    new_typer,
    warn,
)
from carbon_api.cli.workflow import YearOpt

cli = new_typer()
export_app = new_typer(help="Export results (from the stats) or detailed rows as CSV.")
cli.add_typer(export_app, name="export")


OutOpt = Annotated[Path, typer.Option("--output", "-o", help="CSV file to write.")]
StaleOpt = Annotated[bool, typer.Option(
    "--allow-stale", help="Export even while a recalculation of the scope is active.")]


def _write(out: Path, chunks: Iterator[str]) -> int:
    """Stream ``chunks`` into ``out`` (via a temporary file: no half file on failure);
    returns the data lines written."""
    if out.is_dir():
        error(f"{out} is a directory; give a file name with -o")
    if not out.parent.exists():
        error(f"no such directory: {out.parent}")
    tmp = out.with_name(out.name + ".part")
    lines = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            for chunk in chunks:
                f.write(chunk)
                lines += chunk.count("\n")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return max(lines - 1, 0)


def _export(year: int, det: int | None, unit: str | None, allow_stale: bool, out: Path,
            produce: Callable[[Any, Callable[[int], None]], Iterator[str]], total: Any,
            as_json: bool) -> None:
    from carbon_api.cli.embedded import ensure_schema
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.exports import exports
    from carbon_domain.services.exports.freshness import export_freshness

    ensure_schema()
    with session_scope() as s:
        try:
            exports.check_year(s, year, unit)
            if not allow_stale:
                exports.ensure_not_running(s, year, det)
        except (exports.ExportNotFound, exports.ExportBlocked) as exc:
            error(str(exc))
        job = exports.last_recalculation_job_id(s, year, det)
        fresh = export_freshness(s, year, det)
        n = total(s)
    if fresh.warning:  # before the file: a long export is not waited on to say it
        warn(fresh.warning)
    with session_scope() as s:
        exports.snapshot(s)
        if as_json or n < 10_000:
            rows = _write(out, produce(s, lambda done: None))
        else:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn())
            with Progress(*columns, console=err_console) as bar:
                task = bar.add_task(f"exporting {out.name}", total=n)
                rows = _write(out, produce(s, lambda done: bar.update(task, completed=done)))
    result = {"file": str(out), "rows": rows, "last_recalculation_job_id": job,
              "up_to_date": fresh.up_to_date,
              "stale_types": [dataclasses.asdict(t) for t in fresh.stale_types],
              "stale_modules": [dataclasses.asdict(m) for m in fresh.stale_modules],
              "failed_types": [dataclasses.asdict(t) for t in fresh.failed_types],
              "warning": fresh.warning}
    if as_json:
        json_out(result)
    else:
        console.print(f"{rows} rows written to {out}; reflects recalculation job "
                      f"{job if job is not None else 'none'}")


@export_app.command("results")
def export_results(year: YearOpt, output: OutOpt,
                   unit: Annotated[str | None, typer.Option(
                       "--unit", help="One unit's institutional code.")] = None,
                   allow_stale: StaleOpt = False, as_json: JsonFlag = False) -> None:
    """results.csv: one line per unit × module × emission type, from the module stats."""
    from carbon_domain.services.exports import exports

    _export(year, None, unit, allow_stale, output,
            lambda s, _progress: exports.results_csv(s, year, unit), lambda s: 0, as_json)


@export_app.command("data")
def export_data(det: Annotated[str, typer.Argument(help="Data entry type (id or name).")],
                year: YearOpt, output: OutOpt, allow_stale: StaleOpt = False,
                as_json: JsonFlag = False) -> None:
    """TYPE_data.csv: one line per emission row, plus one per entry without a row."""
    from carbon_domain.catalog import parse_data_entry_type
    from carbon_domain.services.exports import exports

    d = parse_data_entry_type(det).value
    _export(year, d, None, allow_stale, output,
            lambda s, progress: exports.data_csv(s, d, year, progress),
            lambda s: exports.count_entries(s, d, year), as_json)
