"""Follow a pipeline in the terminal: a Rich progress bar per job, fed by job progress."""

from __future__ import annotations

import time
import uuid
from typing import Any

from carbon_api.cli.common import err_console
from carbon_domain.errors import NotFound

# How often the pipeline's state is read. The end of the pipeline is seen on average half an
# interval late, at worst one: 0.1 s keeps `--wait` within the 0.3 s the command may add to
# the job, for one indexed read of the pipeline and its jobs per tick.
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


def follow(pipeline_id: str, *, timeout: float = 3600.0, quiet: bool = False) -> str:
    """Block until the pipeline leaves RUNNING; returns its final status."""
    deadline = time.monotonic() + timeout
    _snapshot(pipeline_id)  # an unknown pipeline fails here, before any progress output
    if quiet:
        while True:
            status, _ = _snapshot(pipeline_id)
            if status != "RUNNING":
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipeline {pipeline_id} still RUNNING after {timeout:.0f} s")
            time.sleep(POLL_INTERVAL_S)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=False) as bar:
        tasks: dict[int, Any] = {}
        while True:
            status, jobs = _snapshot(pipeline_id)
            for j in jobs:
                finished = j["state"] == "FINISHED"
                total = max(int(j["total"]), 1)
                done = total if finished else min(int(j["done"]), total)
                label = j["job_type"] + (f" #{j['id']}")
                mark = {"SUCCESS": "[green]✓[/]", "WARNING": "[yellow]![/]",
                        "ERROR": "[red]✗[/]"}.get(j["result"] or "", "…")
                desc = f"{mark} {label}: {j['message'][:70]}"
                if j["id"] not in tasks:
                    tasks[j["id"]] = bar.add_task(desc, total=total, completed=done)
                else:
                    bar.update(tasks[j["id"]], description=desc, total=total, completed=done)
            if status != "RUNNING":
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipeline {pipeline_id} still RUNNING after {timeout:.0f} s")
            time.sleep(POLL_INTERVAL_S)
