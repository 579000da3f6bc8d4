"""The real pipeline: trigger → every emission row rewritten → statistics fresh."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import func, select


def run_pipeline(year: int, workers: int) -> dict[str, Any]:
    """Recalculate every type of every module (8 module triggers at once) and wait until all
    pipelines, aggregations included, have ended."""
    from carbon_domain.catalog import ModuleType
    from carbon_domain.db.models import DataIngestionJob as Job
    from carbon_domain.db.models import RecalcChunk
    from carbon_domain.db.session import session_scope
    from carbon_tasks.operations import trigger_module_recalculation
    from carbon_tasks.waiting import wait_for_pipeline

    t0 = time.perf_counter()
    accepted = [trigger_module_recalculation(module=m.value, year=year, only_stale=False,
                                             created_by="bench") for m in ModuleType]
    statuses = [wait_for_pipeline(a.pipeline_id, timeout=7200).status for a in accepted]
    wall = time.perf_counter() - t0
    pids = [uuid.UUID(a.pipeline_id) for a in accepted]
    with session_scope() as s:
        recalc_ids = list(s.scalars(select(Job.id).where(
            Job.pipeline_id.in_(pids), Job.job_type == "emission_recalc")))
        chunk_seconds, chunks, entries = s.execute(
            select(func.coalesce(func.sum(RecalcChunk.seconds), 0.0), func.count(),
                   func.coalesce(func.sum(RecalcChunk.entries), 0))
            .where(RecalcChunk.job_id.in_(recalc_ids))).one()
        aggs = s.execute(select(Job.started_at, Job.finished_at).where(
            Job.pipeline_id.in_(pids), Job.job_type == "aggregation")).all()
    agg_s = sum((b - a).total_seconds() for a, b in aggs if a and b)
    slots = workers * wall
    # Share of the worker slots' wall time spent outside chunk bodies (planning, dispatch,
    # chord synchronisation, job bookkeeping, idle slots) — and, separately, outside chunk
    # and aggregation bodies (the orchestration cost proper).
    overhead = max(0.0, 1.0 - float(chunk_seconds) / slots) if wall else 0.0
    orchestration = max(0.0, 1.0 - (float(chunk_seconds) + agg_s) / slots) if wall else 0.0
    return {"seconds": wall, "statuses": statuses, "chunks": int(chunks),
            "entries": int(entries), "chunk_seconds": float(chunk_seconds),
            "aggregation_seconds": agg_s, "fanout_overhead": overhead,
            "aggregation_share": agg_s / slots if slots else 0.0,
            "orchestration_overhead": orchestration}
