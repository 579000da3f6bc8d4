"""Block until a pipeline finishes, reporting its jobs' progress on the way.

PostgreSQL (or the embedded SQLite file) is the source of truth for pipeline state, so
this polls the rows rather than Celery results: it works from any process, for pipelines
started by anyone, and survives worker restarts.

    >>> from carbon_tasks.waiting import wait_for_pipeline
    >>> wait_for_pipeline(accepted.pipeline_id, timeout=600).status
    'SUCCESS'
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from carbon_domain.db.enums import TERMINAL_PIPELINE, JobState
from carbon_domain.db.models import Pipeline
from carbon_domain.db.session import session_scope
from carbon_domain.services.pipelines import pipeline_jobs

POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class PipelineProgress:
    """One look at a pipeline: its status and the summed progress of its jobs."""

    pipeline_id: str
    status: str
    done: int                 # Σ progress_done of its jobs (entries recalculated so far)
    total: int                # Σ progress_total
    jobs_finished: int
    jobs_total: int
    message: str | None       # the running job's status_message, else the last job's
    last_error: str | None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_PIPELINE


class PipelineTimeout(TimeoutError):
    def __init__(self, progress: PipelineProgress, timeout: float) -> None:
        super().__init__(f"pipeline {progress.pipeline_id} still {progress.status} after "
                         f"{timeout:g} s ({progress.jobs_finished}/{progress.jobs_total} jobs"
                         f" finished; {progress.message or 'no message'})")
        self.progress = progress


def pipeline_progress(pipeline_id: str | uuid.UUID) -> PipelineProgress:
    """The pipeline's current state; LookupError when it does not exist."""
    pid = uuid.UUID(str(pipeline_id))
    with session_scope() as s:
        p = s.get(Pipeline, pid, populate_existing=True)
        if p is None:
            raise LookupError(f"pipeline {pipeline_id} not found")
        jobs = pipeline_jobs(s, pid)
        running = [j for j in jobs if j.state != JobState.FINISHED]
        shown = running[0] if running else (jobs[-1] if jobs else None)
        return PipelineProgress(
            pipeline_id=str(pid), status=p.status,
            done=sum(int(j.progress_done or 0) for j in jobs),
            total=sum(int(j.progress_total or 0) for j in jobs),
            jobs_finished=len(jobs) - len(running), jobs_total=len(jobs),
            message=shown.status_message if shown is not None else None,
            last_error=p.last_error)


def wait_for_pipeline(pipeline_id: str | uuid.UUID, timeout: float = 600.0,
                      on_progress: Callable[[PipelineProgress], None] | None = None, *,
                      poll: float = POLL_SECONDS) -> PipelineProgress:
    """Poll until the pipeline ends (SUCCESS, PARTIAL, FAILED, ABORTED); return its final state.

    ``on_progress`` is called with every changed snapshot, the final one included.
    Raises PipelineTimeout (a TimeoutError) after ``timeout`` seconds; the pipeline keeps
    running (waiting never affects the work).
    """
    deadline = time.monotonic() + timeout
    last: PipelineProgress | None = None
    while True:
        now = pipeline_progress(pipeline_id)
        if on_progress is not None and now != last:
            on_progress(now)
        last = now
        if now.finished:
            return now
        if time.monotonic() >= deadline:
            raise PipelineTimeout(now, timeout)
        time.sleep(poll)
