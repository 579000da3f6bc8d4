"""Ingest tasks: claim the job, run one ingest service, finish, request recalculations.

The data writes, the job's FINISHED transition and the new recalculation rows commit in
one transaction, so a stale attempt can neither finish the job nor keep its writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from carbon_domain.db.enums import JobResult
from carbon_domain.db.models import DataIngestionJob
from carbon_domain.db.session import session_scope
from carbon_domain.services import ingest as service
from carbon_domain.services import jobs
from carbon_tasks.app import app
from carbon_tasks.base import CarbonTask

log = logging.getLogger("carbon.tasks.ingest")


class _StaleAttempt(Exception):
    pass


def run_ingest(task: Any, job_id: int,
               fn: Callable[[Session, DataIngestionJob], service.IngestOutcome]) -> dict[str, Any]:
    with session_scope() as s:
        attempt = jobs.claim(s, job_id, task.request.id)
    if attempt is None:
        return {"job_id": job_id, "skipped": True, "recalc_job_ids": []}
    recalc_ids: list[int] = []
    # Its own transaction: the data transaction below must not hold the job row while it
    # works (an abort would wait for the whole ingest, then deadlock with the pipeline lock
    # our finish takes). It locks the pipelines, then the job row, only at the end.
    with session_scope() as s:
        jobs.heartbeat(s, job_id, message="Parsing and validating rows")
    try:
        with session_scope() as s:
            job = s.get(DataIngestionJob, job_id)
            assert job is not None
            outcome = fn(s, job)
            jobs.lock_related(s, {job_id})  # lock order: pipelines, then the job row
            if not jobs.finish(s, job_id, attempt, outcome.result, outcome.message, outcome.meta):
                raise _StaleAttempt
            for det in outcome.recalc_dets:
                req = jobs.request_recalc(
                    s, pipeline_id=job.pipeline_id, module_type_id=job.module_type_id,  # type: ignore[arg-type]
                    data_entry_type_id=det, year=job.year, created_by=job.created_by,  # type: ignore[arg-type]
                    input_job_id=job_id)
                if req.created:
                    recalc_ids.append(req.job_id)
            if job.pipeline_id:
                jobs.recompute_pipeline_status(s, job.pipeline_id)
            pipeline_id = job.pipeline_id
            result = outcome.result
    except _StaleAttempt:
        log.warning("job %s: attempt %s was superseded; its writes were rolled back",
                    job_id, attempt)
        return {"job_id": job_id, "skipped": True, "recalc_job_ids": []}
    return {"job_id": job_id, "result": result, "pipeline_id": str(pipeline_id) if pipeline_id else None,
            "recalc_job_ids": recalc_ids if result != JobResult.ERROR else []}


@app.task(base=CarbonTask, bind=True, name="carbon.ingest_factors")
def ingest_factors(self: Any, job_id: int) -> dict[str, Any]:
    """Upsert a factor CSV in place (stable ids) and request recalculation if asked."""
    return run_ingest(self, job_id, service.ingest_factors)


@app.task(base=CarbonTask, bind=True, name="carbon.ingest_data_entries")
def ingest_data_entries(self: Any, job_id: int) -> dict[str, Any]:
    """Replace the year's CSV entries of the type(s), then request their recalculation."""
    return run_ingest(self, job_id, service.ingest_data_entries)


@app.task(base=CarbonTask, bind=True, name="carbon.ingest_units")
def ingest_units(self: Any, job_id: int) -> dict[str, Any]:
    """Create units, their report for the year and its 8 modules."""
    return run_ingest(self, job_id, service.ingest_units)


@app.task(base=CarbonTask, bind=True, name="carbon.ingest_reference")
def ingest_reference(self: Any, job_id: int) -> dict[str, Any]:
    """Upsert stations, building rooms or exchange rates."""
    return run_ingest(self, job_id, service.ingest_reference)
