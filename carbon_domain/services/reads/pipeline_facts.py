"""What a pipeline's jobs say about it beyond its status (pipeline_reads' views carry it, so
the API, the console and the CLI say the same): what a RUNNING pipeline none of whose jobs
has started is waiting for, and what a finished run left to re-run. Pure functions over the
job rows the view already read: no query here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
from carbon_domain.db.enums import JobResult, JobState, JobType, PipelineStatus
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Pipeline

INGEST = (JobType.factor_ingest, JobType.csv_ingest, JobType.reference_ingest, JobType.unit_sync)
Waiting = Literal["broker", "worker"]


def waiting_for(status: str, jobs: Sequence[Job]) -> Waiting | None:
    """What a RUNNING pipeline none of whose jobs (its own or one it joined) has started is
    waiting for (its display status is QUEUED): ``"broker"`` while none of them is on the
    broker (their rows wait in the outbox: the broker was unreachable when it was triggered,
    or the message is being sent; the reconciler sends them), else ``"worker"`` (on the
    broker, no worker took them yet: none runs, or all are busy). None otherwise.

    Before, such a pipeline was "Queued — waiting for a worker" whatever kept it: beside its
    type's "not on the broker yet (the reconciler sends it)" while the broker was down."""
    if status != PipelineStatus.RUNNING or any(j.started_at is not None for j in jobs):
        return None
    if jobs and all(j.state == JobState.NOT_STARTED and j.dispatched_at is None
                    for j in jobs):
        return "broker"
    return "worker"


def recoverable_types(p: Pipeline, jobs: Sequence[Job]) -> list[int]:
    """The data entry types a finished run left to recalculate (empty: nothing to re-run).

    Its per-type recalculations that did not end SUCCESS or WARNING; when they all did (a
    later step, the aggregation, failed) all of them, which brings a fresh aggregation; an
    upload stopped after its data landed but before any recalculation: the types it wrote.
    A SUCCESS run, a running one, an upload that wrote nothing (its ingest ended ERROR; the
    job's fence rolls an aborted ingest back) and uploads without a module leave nothing.
    """
    if p.status in (PipelineStatus.RUNNING, PipelineStatus.SUCCESS,
                    PipelineStatus.NOT_STARTED) or p.module_type_id is None or p.year is None:
        return []
    ok = (JobResult.SUCCESS, JobResult.WARNING)
    recalcs = [j for j in jobs if j.job_type == JobType.emission_recalc
               and j.data_entry_type_id is not None and j.module_type_id == p.module_type_id]
    left = [j.data_entry_type_id for j in recalcs if j.result not in ok]
    dets = left or [j.data_entry_type_id for j in recalcs]
    if not dets:
        root = next((j for j in jobs if j.pipeline_id == p.id), None)
        if root is None or root.job_type not in INGEST or root.result not in ok:
            return []
        dets = ([root.data_entry_type_id] if root.data_entry_type_id is not None else
                [d.value for d in MODULE_DATA_ENTRY_TYPES[ModuleType(p.module_type_id)]])
    return sorted({int(d) for d in dets if d is not None})
