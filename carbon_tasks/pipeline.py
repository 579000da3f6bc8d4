"""The pipeline graph. Every canvas is built here and nowhere else; it reads like SPEC §6:

    upload factors ──► ingest_factors ──► plan_recalculation ──► chord(recalculate_chunk × N)
    upload entries ──► ingest_data_entries ─┘                        │
    operator click ─────────────────────► plan_recalculation         ▼
                                                     finish_recalculation ──► aggregate_module
                                                     (one per module/year, coalesced)

Research facility types take factors computed from the facility units' own emissions, so
their chord runs after every other type's chord and a factor refresh:

    chord(other types) ──► refresh_facility_factors ──► chord(facility types)
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import chain, chord
from celery.canvas import Signature

from carbon_domain.catalog import DEPENDS_ON_OTHER_MODULES, DataEntryType
from carbon_domain.db.enums import JobType
from carbon_domain.services.recalc import PlannedJob


def _ingest_tasks() -> dict[str, Any]:
    from carbon_tasks import ingest

    return {
        JobType.factor_ingest: ingest.ingest_factors,
        JobType.csv_ingest: ingest.ingest_data_entries,
        JobType.unit_sync: ingest.ingest_units,
        JobType.reference_ingest: ingest.ingest_reference,
    }


def requests_recalculation(job_type: str, meta: dict[str, Any] | None) -> bool:
    """Whether an ingest job can request recalculations: a data entry upload always, a factor
    upload only with ``recalculate``, units and reference data never."""
    if job_type == JobType.csv_ingest:
        return True
    return job_type == JobType.factor_ingest and bool(
        (meta or {}).get("config", {}).get("recalculate"))


def job_signature(job_id: int, job_type: str, task_id: str, *,
                  then_plan: bool = True) -> Signature:
    """The signature that runs one single-task job (ingest or aggregation)."""
    from carbon_tasks import aggregate, recalc

    if job_type == JobType.aggregation:
        return aggregate.aggregate_module.si(job_id=job_id).set(task_id=task_id)
    task = _ingest_tasks()[job_type].si(job_id=job_id).set(task_id=task_id)
    # An ingest that starts recalculation hands its new job ids to the planner; one that
    # cannot (see requests_recalculation) sends no planning message at all.
    return chain(task, recalc.plan_recalculation.s()) if then_plan else task


def plan_signature(pipeline_id: str | None, job_ids: list[int], root_job_id: int | None,
                   task_id: str) -> Signature:
    from carbon_tasks import recalc

    return recalc.plan_recalculation.si(
        None, pipeline_id=pipeline_id, job_ids=job_ids, root_job_id=root_job_id
    ).set(task_id=task_id)


def recalculation_canvas(planned: list[PlannedJob], root_job_id: int | None
                         ) -> tuple[Signature, dict[int, dict[int, str]]]:
    """chord(chunks) ──► finish, with facility types in a second stage. Returns the canvas
    and the chunk task ids (so an abort can revoke them)."""
    from carbon_tasks import recalc

    regular = [p for p in planned if DataEntryType(p.det) not in DEPENDS_ON_OTHER_MODULES]
    facility = [p for p in planned if DataEntryType(p.det) in DEPENDS_ON_OTHER_MODULES]
    task_ids: dict[int, dict[int, str]] = {}
    stages: list[Signature] = []
    for group in (regular, facility):
        if not group:
            continue
        if group is facility:
            stages.append(recalc.refresh_facility_factors.si(
                job_ids=[p.job_id for p in group], year=group[0].year))
        header = []
        for p in group:
            for n in p.chunk_nos:
                tid = str(uuid.uuid4())
                task_ids.setdefault(p.job_id, {})[n] = tid
                header.append(recalc.recalculate_chunk.si(
                    job_id=p.job_id, attempt=p.attempt, chunk_no=n).set(task_id=tid))
        done = [[p.job_id, p.attempt] for p in group]
        # The root closes after the last stage only.
        root = root_job_id if group is (facility or regular) else None
        body = recalc.finish_recalculation.s(jobs=done, root_job_id=root)
        # On the body itself: when a chunk fails for good, the chord calls the body's
        # errbacks with the error instead of running it.
        body.link_error(recalc.recalculation_failed.s(jobs=done, root_job_id=root))
        if header:
            stages.append(chord(header, body))
        else:
            stages.append(recalc.finish_recalculation.si([], jobs=done, root_job_id=root))
    return (stages[0] if len(stages) == 1 else chain(*stages)), task_ids
