"""Pipelines from the terminal: list them (filtered as the API and the console filter them),
follow one to its end, abort one.

Pipelines are shown by the first 8 characters of their id, which every command here accepts
(``--json`` prints full ids), as do ``carbon jobs -p`` and ``carbon recover``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
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
    print_table,
)

cli = new_typer()


def resolve_pipeline_id(text: str) -> uuid.UUID:
    """A full pipeline id, or the unique pipeline whose id starts with ``text`` (listings
    show the first 8 characters, as git and docker do)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    # Only a prefix needs the pipeline reads (~0.09 s of imports `carbon wait ID --json`
    # does without otherwise).
    from carbon_api.cli.embedded import ensure_schema
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads.pipeline_reads import find_by_prefix

    prefix = text.strip().lower().replace("-", "")
    if not 4 <= len(prefix) < 32 or any(c not in "0123456789abcdef" for c in prefix):
        error(f"not a pipeline id: {text!r} (a UUID, or its first 4 or more characters)")
    ensure_schema()
    with session_scope() as s:
        found = find_by_prefix(s, prefix)
    if not found:
        error(f"no pipeline id starts with {text!r}")
    if len(found) > 1:
        error(f"pipeline id prefix {text!r} is ambiguous; give more characters")
    return found[0]


def _short(pipeline_id: Any) -> str:
    return str(pipeline_id)[:8] if pipeline_id else ""


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        error(f"{option} {text!r} is not an ISO 8601 date or time (e.g. 2025-03-01T09:00)")
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _choice(value: str | None, names: Any, what: str) -> str | None:
    if value is None:
        return None
    if value.upper() in names.__members__:
        return str(names[value.upper()])
    if value.lower() in names.__members__:
        return str(names[value.lower()])
    error(f"unknown {what} {value!r}; expected one of {', '.join(names)}")


@cli.command("pipelines")
def pipelines(
    status_filter: Annotated[str | None, typer.Option("--status")] = None,
    kind: Annotated[str | None, typer.Option(help="What started it, e.g. csv_ingest.")] = None,
    module: Annotated[str | None, typer.Option("--module", "-m", help="By name or id.")] = None,
    year: Annotated[int | None, typer.Option("--year", "-y")] = None,
    errors: Annotated[bool | None, typer.Option(
        "--errors/--no-errors", help="Only pipelines with (without) a job that ended ERROR."
    )] = None,
    warnings: Annotated[bool | None, typer.Option(
        "--warnings/--no-warnings", help="Only pipelines with (without) a job that ended "
                                         "WARNING (rows skipped, a column ignored).")] = None,
    queued: Annotated[bool | None, typer.Option(
        "--queued/--no-queued", help="Only pipelines (not) waiting for a worker: RUNNING "
                                     "and no job of them started yet.")] = None,
    created_by: Annotated[str | None, typer.Option("--created-by")] = None,
    created_after: Annotated[str | None, typer.Option(
        "--created-after", help="ISO 8601, inclusive (UTC without an offset).")] = None,
    created_before: Annotated[str | None, typer.Option(
        "--created-before", help="ISO 8601, exclusive (UTC without an offset).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    counts: Annotated[bool, typer.Option(
        "--counts", help="Only the counts by status of the whole filtered result.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The most recent pipelines (newest first; `--json` for full ids), filtered as the API
    and the console filter them, with the counts by status of the whole filtered result."""
    from carbon_api.cli.embedded import ensure_schema
    from carbon_api.cli.follow import status_word
    from carbon_domain.catalog import parse_module
    from carbon_domain.db.enums import JobType, PipelineStatus
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads.pipeline_console import QUEUED, PipelineFilters
    from carbon_domain.services.reads.pipeline_reads import listing

    known = [*PipelineStatus, QUEUED]  # QUEUED: RUNNING, no job of it started yet
    if status_filter and status_filter.upper() not in known:
        error(f"unknown pipeline status {status_filter!r};"
              f" expected one of {', '.join(known)}")
    filters = PipelineFilters(
        status=status_filter.upper() if status_filter else None,
        kind=_choice(kind, JobType, "pipeline kind"),
        module_type_id=parse_module(module).value if module else None, year=year,
        has_errors=errors, has_warnings=warnings, queued=queued, created_by=created_by,
        created_after=_when(created_after, "--created-after"),
        created_before=_when(created_before, "--created-before"))
    ensure_schema()
    with session_scope() as s:
        found = listing(s, filters, limit=limit, offset=offset)
    shown = found.counts_by_display_status
    if counts:
        summary = {"total": found.total, "counts_by_status": found.counts_by_status,
                   "counts_by_display_status": shown}
        if as_json:
            json_out(summary)
        else:
            console.print(_counts_line(found.total, found.counts_by_status, shown))
        return
    rows: list[dict[str, Any]] = [{"id": str(v.pipeline_id), "kind": v.kind, "status": v.status,
             "display_status": v.display_status, "waiting_for": v.waiting_for,
             "reverts_job_id": v.reverts_job_id,
             "silence": v.silence.text if v.silence else None,
             "module_type_id": v.module_type_id, "year": v.year,
             "jobs": v.progress.jobs_total, "errors": v.error_count,
             "warnings": v.warning_count,
             "created_by": v.created_by, "created_at": v.created_at,
             "finished_at": v.finished_at, "duration": duration(v.created_at, v.finished_at),
             "last_error": v.last_error} for v in found.items]
    if as_json:
        json_out(rows)
        return
    # Created to the minute: with seconds an emission_recalc row needed 82 columns.
    t = new_table("Pipelines", ("id", "kind", "status", "mod", "year", "jobs:num",
                                "errors:num", "created", "took:num"))
    for r in rows:
        t.add_row(_short(r["id"]), r["kind"], status_word(r["display_status"]),
                  str(r["module_type_id"] or ""), str(r["year"] or ""),
                  str(r["jobs"]), str(r["errors"]), f"{r['created_at']:%m-%d %H:%M}",
                  r["duration"])
    print_table(t)
    for r in rows:
        for note in _notes(r):
            console.print(f"{_short(r['id'])}: {note}", markup=False, highlight=False)
    console.print(_counts_line(found.total, found.counts_by_status, shown))


def _notes(r: dict[str, Any]) -> list[str]:
    """The lines under the table for one pipeline, in the words of its console row and card:
    what a queued one waits for, that nothing moved for CARBON_NO_PROGRESS_SECONDS, that it
    is the undo of an upload."""
    return [n for n in (f"queued, {_waiting(r['waiting_for'])}" if r["waiting_for"] else None,
                        r["silence"],
                        f"undo of job {r['reverts_job_id']}"
                        if r["reverts_job_id"] is not None else None) if n]


def _waiting(what: str) -> str:
    """What a QUEUED pipeline waits for (``waiting_for``: pipeline_facts.waiting_for) in the
    words of its console row and of its types' status. Before, the listing said QUEUED
    alone, and its counts line "waiting for a worker" even of a pipeline the broker never
    got."""
    from carbon_domain.services.reads.display_state import NOT_ON_BROKER, WAITING_FOR_WORKER

    return NOT_ON_BROKER if what == "broker" else WAITING_FOR_WORKER


def _counts_line(total: int, by_status: dict[str, int], shown: dict[str, int]) -> str:
    from carbon_domain.services.reads.pipeline_console import QUEUED, SUCCESS_WITH_WARNINGS

    split = {"SUCCESS": (shown.get(SUCCESS_WITH_WARNINGS, 0), "with warnings"),
             # Queued ones wait for a worker or for the broker: the rows say which.
             "RUNNING": (shown.get(QUEUED, 0), "queued, not started")}
    parts = ", ".join(f"{s} {n}" + (f" ({split[s][0]} {split[s][1]})"
                                    if s in split and split[s][0] else "")
                      for s, n in sorted(by_status.items()))
    matched = "pipeline matches" if total == 1 else "pipelines match"
    return f"{total} {matched}" + (f": {parts}" if parts else "")


@cli.command("wait")
def wait(pipeline: Annotated[str, typer.Argument(help="A pipeline id or its first characters.")],
         timeout: Annotated[float, typer.Option(min=1)] = 3600,
         as_json: JsonFlag = False) -> None:
    """Follow a pipeline until it ends; exit 2 if it FAILED or was ABORTED."""
    from carbon_api.cli.follow import end_fields, end_line, follow, warnings_of

    pid = str(resolve_pipeline_id(pipeline))
    try:
        final = follow(pid, timeout=timeout, quiet=as_json)
    except TimeoutError as exc:
        error(str(exc))
    warnings = warnings_of(pid, final)
    if as_json:
        fields = end_fields(final, warnings)
        json_out({"pipeline_id": pid, "status": final,
                  "display_status": fields["pipeline_display_status"],
                  "warnings": warnings})
    else:
        console.print(end_line(final, warnings, prefix=f"pipeline {pid}:"))
    if final in ("FAILED", "ABORTED"):
        raise typer.Exit(2)


@cli.command("abort")
def abort(pipeline: Annotated[str, typer.Argument(help="A pipeline id or its first characters.")],
          as_json: JsonFlag = False) -> None:
    """Abort a pipeline: finish its active jobs as ERROR and revoke outstanding tasks."""
    from carbon_tasks.operations import abort_pipeline

    pid = str(resolve_pipeline_id(pipeline))
    try:
        out = abort_pipeline(pid, "cli")
    except LookupError as exc:
        error(str(exc))
    if as_json:
        json_out(out)
    else:
        info(f"aborted {len(out['aborted_job_ids'])} jobs of pipeline {pid}")
