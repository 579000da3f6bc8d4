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

from carbon_domain.db.enums import TERMINAL_PIPELINE
from carbon_domain.db.session import session_scope
from carbon_domain.errors import NotFound
from carbon_domain.services.reads import pipeline_reads

POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class PipelineProgress:
    """One look at a pipeline: its status and the summed progress of its jobs."""

    pipeline_id: str
    status: str
    done: int                 # entries done so far (pipeline_reads.progress_of)
    total: int
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
    with session_scope() as s:
        v = pipeline_reads.view(s, uuid.UUID(str(pipeline_id)), live=False)
        if v is None:
            raise NotFound(f"pipeline {pipeline_id} not found")
        return PipelineProgress(
            pipeline_id=str(v.pipeline_id), status=v.status, done=v.progress.done,
            total=v.progress.total, jobs_finished=v.progress.jobs_finished,
            jobs_total=v.progress.jobs_total,
            message=v.current_message,
            last_error=v.last_error)


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
