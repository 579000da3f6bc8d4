"""Follow a pipeline in the terminal: a Rich progress bar per job, fed by job progress."""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from typing import Any

from carbon_api.cli.common import err_console
from carbon_domain.errors import NotFound

# How often the pipeline's state is read at most. On PostgreSQL the command listens for the
# database's pipeline change notices (carbon_domain/db/pipeline_changes.py) and reads as soon
# as one arrives, so the end is seen within a few milliseconds; the interval is the wait
# without notices (SQLite, or the listening connection refused or lost): the end is then seen
# on average half an interval late, one indexed read of the pipeline and its jobs per tick.
POLL_INTERVAL_S = 0.1


def _snapshot(pipeline_id: str) -> tuple[str, list[dict[str, Any]]]:
    """The pipeline's status and its jobs, read the way the API's pipeline view reads them."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.reads.pipeline_reads import detail

    with session_scope() as s:
        p = detail(s, uuid.UUID(str(pipeline_id)))
    if p is None:
        raise NotFound(f"pipeline {pipeline_id} not found")
    return p.status, [{"id": j.id, "job_type": j.job_type, "state": j.state,
                          "result": j.result, "message": j.status_message or "",
                          "done": j.progress.done, "total": j.progress.total}
                         for j in p.jobs]


def _status(pipeline_id: str) -> str:
    """The pipeline's status alone: what ``--json`` waits for. The status column, as the
    pipeline view reads it, without the view's jobs, chunk counts and phases (3-4 queries and
    ~0.09 s of imports the command no longer pays)."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.jobs.pipelines import status_of

    with session_scope() as s:
        status = status_of(s, pipeline_id)
    if status is None:
        raise NotFound(f"pipeline {pipeline_id} not found")
    return status


class _Pause:
    """Waits POLL_INTERVAL_S, or less when a change notice of this pipeline arrives (other
    pipelines' notices are let pass); plain sleeps once the notices are unavailable.
    Listening starts before the first read, so a change between a read and the wait that
    follows is never missed."""

    def __init__(self, pipeline_id: str) -> None:
        self._stack = ExitStack()
        self._listener: Any = None
        self._id = str(pipeline_id)

    def __enter__(self) -> _Pause:
        from carbon_domain.db import pipeline_changes

        try:
            if pipeline_changes.supported():
                self._listener = self._stack.enter_context(pipeline_changes.Listener())
        except Exception:  # noqa: BLE001 - no notices: poll at the interval
            self._listener = None
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def __call__(self) -> None:
        if self._listener is not None:
            deadline = time.monotonic() + POLL_INTERVAL_S
            try:
                while (left := deadline - time.monotonic()) > 0:
                    if self._id in self._listener.wait(left):
                        return
                return
            except Exception:  # noqa: BLE001 - connection lost: poll at the interval
                self._listener = None
        time.sleep(POLL_INTERVAL_S)


def follow(pipeline_id: str, *, timeout: float = 3600.0, quiet: bool = False) -> str:
    """Block until the pipeline leaves RUNNING; returns its final status."""
    with _Pause(pipeline_id) as pause:
        return _follow(pipeline_id, timeout, quiet, pause)


def _follow(pipeline_id: str, timeout: float, quiet: bool, pause: _Pause) -> str:
    deadline = time.monotonic() + timeout
    if quiet:
        while True:
            status = _status(pipeline_id)  # an unknown pipeline fails at the first read
            if status != "RUNNING":
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipeline {pipeline_id} still RUNNING after {timeout:.0f} s")
            pause()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Column

    # The description wraps and the bar, the count and the time keep their width: left to
    # Rich, a long message took the line and the counts after it were cut to "0…" (at 80
    # columns they were not printed at all).
    columns = (TextColumn("{task.description}", table_column=Column(ratio=1, overflow="fold")),
               BarColumn(bar_width=10),
               MofNCompleteColumn(table_column=Column(no_wrap=True, justify="right")),
               TimeElapsedColumn(table_column=Column(no_wrap=True)))
    status, jobs = _snapshot(pipeline_id)  # an unknown pipeline fails before any output
    with Progress(*columns, console=err_console, transient=False) as bar:
        tasks: dict[int, Any] = {}
        while True:
            for j in jobs:
                # A job that ended well fills its bar (an ingest or aggregation counts no
                # entries); one that ended ERROR (failed, aborted) keeps where it stopped, as
                # `carbon jobs` shows it: a full bar would say every entry was done.
                completed = j["state"] == "FINISHED" and j["result"] != "ERROR"
                total = max(int(j["total"]), 1)
                done = total if completed else min(int(j["done"]), total)
                label = j["job_type"] + (f" #{j['id']}")
                mark = {"SUCCESS": "[green]✓[/]", "WARNING": "[yellow]![/]",
                        "ERROR": "[red]✗[/]"}.get(j["result"] or "", "…")
                text = j["message"]
                desc = f"{mark} {label}: {text[:160]}{'…' if len(text) > 160 else ''}"
                if j["id"] not in tasks:
                    tasks[j["id"]] = bar.add_task(desc, total=total, completed=done)
                else:
                    bar.update(tasks[j["id"]], description=desc, total=total, completed=done)
            if status != "RUNNING":
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipeline {pipeline_id} still RUNNING after {timeout:.0f} s")
            pause()
            status, jobs = _snapshot(pipeline_id)


def warnings_of(pipeline_id: str, status: str | None) -> int:
    """Jobs of a SUCCESS pipeline that ended WARNING (0 for any other status): what makes
    every surface show it as succeeded with warnings, never as a plain success."""
    if status != "SUCCESS":
        return 0
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.jobs.pipelines import warning_count

    with session_scope() as s:
        return warning_count(s, pipeline_id)


def end_fields(status: str | None, warnings: int) -> dict[str, Any]:
    """What ``--json`` adds beside the stored status: the status every surface shows."""
    if not status:
        return {}
    from carbon_domain.services.reads.pipeline_console import display_status

    return {"pipeline_display_status": display_status(status, warnings),
            "pipeline_warnings": warnings}


def status_word(shown: str) -> str:
    """A pipeline's display status (pipeline_console.display_status) in colour: green only
    for a clean SUCCESS; a SUCCESS with a WARNING job is "SUCCESS ⚠ warnings", in yellow; a
    RUNNING one no worker has started yet "QUEUED", dimmed (one word: columns stay split
    on spaces)."""
    from carbon_domain.services.reads.pipeline_console import QUEUED, SUCCESS_WITH_WARNINGS

    if shown == SUCCESS_WITH_WARNINGS:
        return "[yellow]SUCCESS ⚠ warnings[/]"
    if shown == QUEUED:
        return "[dim]QUEUED[/]"
    style = {"SUCCESS": "green", "PARTIAL": "yellow", "RUNNING": ""}.get(shown, "red")
    return f"[{style}]{shown}[/]" if style else shown


def end_line(status: str, warnings: int, prefix: str = "pipeline") -> str:
    """The last line of a followed pipeline, in Rich markup."""
    if warnings:
        return (f"{prefix} [yellow]SUCCESS with warnings[/]: {warnings} job"
                f"{'s' if warnings != 1 else ''} ended WARNING (`carbon pipelines --warnings`,"
                " or the console's pipeline page, says what)")
    return f"{prefix} {status_word(status)}"
