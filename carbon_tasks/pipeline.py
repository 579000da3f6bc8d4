"""The pipeline graph. Every canvas is built here and nowhere else, from task *names*
(this module imports no task module); it reads like docs/design.md §4:

    upload factors ──► ingest_factors ──┐ (outbox)
    upload entries ──► ingest_data_entries ─► plan_recalculation ─► chord(recalculate_chunk × N)
    operator click ──────────────────────► plan_recalculation              │
                                                                           ▼
                        aggregate_module ◄── (outbox) ◄── finish_recalculation
                        (one per module/year, coalesced)

Research facility types take factors computed from the facility units' own emissions, so
their chord runs after every other type's chord and a factor refresh:

    chord(other types) ──► refresh_facility_factors ──► chord(facility types)

It also decides which message runs a committed job (``messages``): one message per ingest
or aggregation job, one plan message per pipeline for its recalculations. Follow-up jobs
(an ingest's recalculations, a recalculation's aggregation) are rows the services create;
they reach the broker through the outbox (``dispatch``), never through a task's result.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import chain, chord
from celery.canvas import Signature
from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain import task_names as tn
from carbon_domain.catalog import DEPENDS_ON_OTHER_MODULES, DataEntryType
from carbon_domain.db.enums import JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_tasks.app import app

if TYPE_CHECKING:  # the planner pulls in the engine: senders (CLI, API) need none of it
    from carbon_domain.services.recalc.recalc_plan import PlannedJob

# The task that runs each single-task job type.
JOB_TASKS: dict[str, str] = {
    JobType.factor_ingest: tn.INGEST_FACTORS,
    JobType.csv_ingest: tn.INGEST_DATA_ENTRIES,
    JobType.unit_sync: tn.INGEST_UNITS,
    JobType.reference_ingest: tn.INGEST_REFERENCE,
    JobType.aggregation: tn.AGGREGATE_MODULE,
    JobType.factor_preview: tn.PREVIEW_FACTORS,
}


def _sig(name: str, *, immutable: bool = True, **kwargs: Any) -> Signature:
    return app.signature(name, kwargs=kwargs, immutable=immutable)


@dataclass(frozen=True)
class Message:
    signature: Signature
    task_id: str
    job_ids: list[int]  # marked QUEUED once the message is published


def job_signature(job_id: int, job_type: str, task_id: str) -> Signature:
    """The signature that runs one single-task job (ingest or aggregation)."""
    return _sig(JOB_TASKS[job_type], job_id=job_id).set(task_id=task_id)


def plan_signature(pipeline_id: str | None, job_ids: list[int], root_job_id: int | None,
                   task_id: str) -> Signature:
    return _sig(tn.PLAN_RECALCULATION, pipeline_id=pipeline_id, job_ids=job_ids,
                root_job_id=root_job_id).set(task_id=task_id)


def messages(session: Session, job_ids: Iterable[int]) -> list[Message]:
    """Which messages run these jobs (those still NOT_STARTED): one per ingest or aggregation
    job; per pipeline, one plan message for its recalculations.

    A pipeline's module-level job rides with its types even when only the types were picked
    up (e.g. re-dispatched by the reconciler): the plan starts it, and the finish closes it.
    A root without types to plan is left alone; it is closed when the types it waits for
    are done."""
    rows = list(session.scalars(select(Job).where(
        Job.id.in_(list(job_ids)), Job.state == JobState.NOT_STARTED).order_by(Job.id)))
    recalc: dict[Any, list[int]] = defaultdict(list)
    roots: dict[Any, int] = {}
    out: list[Message] = []
    for job in rows:
        if job.job_type == JobType.emission_recalc:
            recalc[job.pipeline_id].append(job.id)
        elif job.job_type == JobType.module_emission_recalc:
            roots[job.pipeline_id] = job.id
        else:
            tid = str(uuid.uuid4())
            out.append(Message(job_signature(job.id, job.job_type, tid), tid, [job.id]))
    waiting = {pid: rid for rid, pid in session.execute(select(Job.id, Job.pipeline_id).where(
        Job.pipeline_id.in_([p for p in recalc if p is not None and p not in roots]),
        Job.job_type == JobType.module_emission_recalc,
        Job.state.in_((JobState.NOT_STARTED, JobState.QUEUED))))}
    for pid, ids in recalc.items():
        root = roots.get(pid) or waiting.get(pid)
        tid = str(uuid.uuid4())
        out.append(Message(plan_signature(str(pid) if pid else None, ids, root, tid), tid,
                           ids + ([root] if root else [])))
    return out


def recalculation_canvas(planned: list[PlannedJob], root_job_id: int | None
                         ) -> tuple[Signature, dict[int, dict[int, str]]]:
    """chord(chunks) ──► finish, with facility types in a second stage. Returns the canvas
    and the chunk task ids (recorded on the chunk rows: what to look for in Flower; an abort
    lets them run out as no-ops rather than revoke them, services/jobs/pipelines.py)."""
    regular = [p for p in planned if DataEntryType(p.det) not in DEPENDS_ON_OTHER_MODULES]
    facility = [p for p in planned if DataEntryType(p.det) in DEPENDS_ON_OTHER_MODULES]
    task_ids: dict[int, dict[int, str]] = {}
    stages: list[Signature] = []
    for group in (regular, facility):
        if not group:
            continue
        if group is facility:
            stages.append(_sig(tn.REFRESH_FACILITY_FACTORS, job_ids=[p.job_id for p in group],
                               year=group[0].year))
        header = []
        for p in group:
            for n in p.chunk_nos:
                tid = str(uuid.uuid4())
                task_ids.setdefault(p.job_id, {})[n] = tid
                header.append(_sig(tn.RECALCULATE_CHUNK, job_id=p.job_id, attempt=p.attempt,
                                   chunk_no=n).set(task_id=tid))
        done = [[p.job_id, p.attempt] for p in group]
        # The root closes after the last stage only.
        root = root_job_id if group is (facility or regular) else None
        if header:
            body = _sig(tn.FINISH_RECALCULATION, immutable=False, jobs=done, root_job_id=root)
            # On the body itself: when a chunk fails for good, the chord calls the body's
            # errbacks with the error instead of running it.
            body.link_error(_sig(tn.RECALCULATION_FAILED, immutable=False, jobs=done,
                                 root_job_id=root))
            stages.append(chord(header, body))
        else:
            stages.append(_sig(tn.FINISH_RECALCULATION, jobs=done, root_job_id=root))
    return (stages[0] if len(stages) == 1 else chain(*stages)), task_ids
