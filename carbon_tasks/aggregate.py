"""The coalesced aggregation task: one per (module, year) at a time."""

from __future__ import annotations

from typing import Any

from carbon_domain.services.aggregate import run_aggregation_job
from carbon_tasks.app import app
from carbon_tasks.base import CarbonTask


@app.task(base=CarbonTask, bind=True, name="carbon.aggregate_module")
def aggregate_module(self: Any, job_id: int) -> dict[str, Any] | None:
    """Rebuild module and report statistics; runs once more if marked dirty meanwhile."""
    return run_aggregation_job(job_id, self.request.id)
