"""Chunked recalculation of a (data entry type, year) slice, in three steps:

- ``recalc_plan``: claim the per-type jobs, split each slice into id-range chunks;
- ``recalc_chunk``: rewrite one chunk's emission rows in one transaction;
- ``recalc_finish``: close the jobs from their chunk rows, request the trailing aggregation.

This module re-exports the three so callers name one service.
"""

from __future__ import annotations

from carbon_domain.services.recalc_chunk import recalculate_chunk, write_rows
from carbon_domain.services.recalc_finish import (
    FinishOutcome,
    after_abort,
    close_module_job,
    close_module_jobs,
    complete_recalculation,
    finish_job,
)
from carbon_domain.services.recalc_plan import (
    PlannedJob,
    plan_job,
    plan_jobs,
    record_chunk_task_ids,
)

__all__ = [
    "FinishOutcome", "PlannedJob", "after_abort", "close_module_job", "close_module_jobs",
    "complete_recalculation", "finish_job", "plan_job", "plan_jobs", "record_chunk_task_ids",
    "recalculate_chunk", "write_rows",
]
