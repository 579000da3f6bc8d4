"""The coalesced aggregation task: one per (module, year) at a time."""

from __future__ import annotations

from typing import Any

from carbon_domain import task_names as tn
from carbon_domain.services.recalc.aggregate import AggregationWork
from carbon_tasks.app import app
from carbon_tasks.base import JobTask


@app.task(base=JobTask, bind=True, name=tn.AGGREGATE_MODULE)
def aggregate_module(self: JobTask, job_id: int) -> dict[str, Any]:
    """Rebuild module and report statistics; runs once more if marked dirty meanwhile."""
    return self.run_job(job_id, AggregationWork())
