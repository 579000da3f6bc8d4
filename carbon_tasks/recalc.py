"""Recalculation tasks: plan (replaces itself with the chord), chunk, finish. The canvas
comes from ``pipeline``; follow-up jobs (the trailing aggregation, a rerun) go out through
the outbox (``dispatch``)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from carbon_domain import task_names as tn
from carbon_domain.db.locks import retry_conflicts
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs
from carbon_domain.services.jobs.jobs import AttemptSuperseded
from carbon_domain.services.recalc import inputs_read, recalc_chunk, recalc_finish, recalc_plan
from carbon_domain.services.recalc.facilities import refresh_facility_factors as refresh_factors
from carbon_tasks import pipeline
from carbon_tasks.app import app
from carbon_tasks.base import CarbonTask
from carbon_tasks.dispatch import BrokerUnavailable, dispatch_jobs

log = logging.getLogger("carbon.tasks.recalc")


@app.task(base=CarbonTask, bind=True, name=tn.PLAN_RECALCULATION)
def plan_recalculation(self: Any, *, pipeline_id: str | None = None,
                       job_ids: list[int] | None = None,
                       root_job_id: int | None = None) -> Any:
    """Claim the recalculation jobs, split their slices into chunks and replace this task
    with the chord."""
    if not job_ids:
        return {"planned": 0}
    with session_scope() as s:
        planned = recalc_plan.plan_jobs(s, list(job_ids), self.request.id, root_job_id)
        if not planned:
            return {"planned": 0}
        canvas, task_ids = pipeline.recalculation_canvas(planned, root_job_id)
        for job_id, chunk_ids in task_ids.items():
            recalc_plan.record_chunk_task_ids(s, job_id, chunk_ids)
    chunks = sum(len(p.chunk_nos) for p in planned)
    self.send_event("task-progress", planned=len(planned), chunks=chunks)
    raise self.replace(canvas)


@app.task(base=CarbonTask, bind=True, name=tn.RECALCULATE_CHUNK,
          finishes_job_on_failure=False)
def recalculate_chunk(self: Any, job_id: int, attempt: int, chunk_no: int) -> dict[str, Any]:
    """Rewrite one chunk's emission rows in one transaction; bad entries are reported in
    the envelope, never raised, so one bad entry cannot fail the chord."""
    try:
        with session_scope() as s:
            envelope = recalc_chunk.recalculate_chunk(s, job_id, attempt, chunk_no)
    except AttemptSuperseded as exc:
        log.warning("%s; its writes were rolled back", exc)
        return {"ok": True, "skipped": True, "superseded": True, "job_id": job_id,
                "chunk": chunk_no}
    # No task-progress event: its counts are the task's result (Flower shows it) and the
    # job row's progress; the event was one more Redis round trip per chunk (590 py-spy
    # samples, 1.4 % of the worker slots of a 1M run).
    return envelope.to_json()


@app.task(base=CarbonTask, bind=True, name=tn.FINISH_RECALCULATION)
def finish_recalculation(self: Any, results: list[dict[str, Any]] | None = None, *,
                         jobs: list[list[int]], root_job_id: int | None = None
                         ) -> dict[str, Any]:
    """Chord body: close the per-type jobs and request one aggregation per (module, year)."""
    to_dispatch = _complete([(j, a) for j, a in jobs], root_job_id)
    dispatch_jobs(to_dispatch)
    return {"closed": [j for j, _ in jobs], "dispatched": to_dispatch,
            "chunks": len(results or [])}


@app.task(base=CarbonTask, bind=True, name=tn.RECALCULATION_FAILED)
def recalculation_failed(self: Any, request: Any = None, exc: Any = None, traceback: Any = None,
                         *, jobs: list[list[int]], root_job_id: int | None = None) -> None:
    """Chord errback: a chunk failed for good (retries exhausted, worker lost)."""
    log.error("recalculation chord failed for jobs %s: %s", jobs, exc)
    to_dispatch = _complete([(j, a) for j, a in jobs], root_job_id, lost=True)
    try:  # the trailing aggregation other pipelines may be waiting for
        dispatch_jobs(to_dispatch)
    except BrokerUnavailable:
        log.warning("jobs %s stay in the outbox for the reconciler", to_dispatch)


def _complete(finished: list[tuple[int, int]], root_job_id: int | None, *,
              lost: bool = False) -> list[int]:
    """One transaction, run again if PostgreSQL broke a deadlock by rolling it back."""
    def run() -> list[int]:
        with session_scope() as s:
            return recalc_finish.complete_recalculation(s, finished, root_job_id, lost=lost)
    return retry_conflicts(run)


@app.task(base=CarbonTask, bind=True, name=tn.REFRESH_FACILITY_FACTORS)
def refresh_facility_factors(self: Any, *, job_ids: list[int], year: int) -> dict[str, Any]:
    """Recompute research-facility factors from the facility units' own emissions (which
    the previous chord just rewrote). Nothing when the facility jobs were aborted meanwhile:
    an abort lets the queued chunks run out as no-ops (services/jobs/pipelines.py,
    ``abort_pipeline``), so the chain goes on to this stage, which must not write factors
    (nor note what aborted jobs read) for a pipeline that was stopped."""
    with session_scope() as s:
        if not jobs.still_running(s, job_ids):
            return {"skipped": True, "aborted": True, "job_ids": job_ids}
        inputs_read.note_facility_refresh(s, job_ids)
        return asdict(refresh_factors(s, year, job_ids[0] if job_ids else None))
