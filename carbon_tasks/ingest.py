"""Ingest tasks: each runs one ingest service through the job runner (``JobTask``)."""

from __future__ import annotations

from typing import Any

from carbon_domain import task_names as tn
from carbon_domain.services.ingest import ingest as service
from carbon_domain.services.ingest import units_ingest
from carbon_domain.services.jobs.job_runs import IngestWork
from carbon_tasks.app import app
from carbon_tasks.base import JobTask


@app.task(base=JobTask, bind=True, name=tn.INGEST_FACTORS)
def ingest_factors(self: JobTask, job_id: int) -> dict[str, Any]:
    """Upsert a factor CSV in place (stable ids) and request recalculation if asked."""
    return self.run_job(job_id, IngestWork(service.ingest_factors))


@app.task(base=JobTask, bind=True, name=tn.INGEST_DATA_ENTRIES)
def ingest_data_entries(self: JobTask, job_id: int) -> dict[str, Any]:
    """Replace the year's CSV entries of the type(s), then request their recalculation."""
    return self.run_job(job_id, IngestWork(service.ingest_data_entries))


@app.task(base=JobTask, bind=True, name=tn.INGEST_UNITS)
def ingest_units(self: JobTask, job_id: int) -> dict[str, Any]:
    """Create units, their report for the year and its 8 modules."""
    return self.run_job(job_id, IngestWork(units_ingest.ingest_units))


@app.task(base=JobTask, bind=True, name=tn.INGEST_REFERENCE)
def ingest_reference(self: JobTask, job_id: int) -> dict[str, Any]:
    """Upsert stations, building rooms or exchange rates."""
    return self.run_job(job_id, IngestWork(service.ingest_reference))
