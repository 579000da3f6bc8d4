"""Recovering a finished run: which types a failed, partial or aborted pipeline left, to be
re-run by a new pipeline ("Recalculate what this run left", ``POST …/recover``,
``carbon recover``).

The types come from the run itself, never from the staleness status: after an abort the
status may well say "up to date" (no newer input) while the run rewrote only part of its
chunks, and the operator asked for exactly this run's types.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from carbon_domain.db.enums import PipelineStatus
from carbon_domain.errors import Conflict, NotFound
from carbon_domain.services.jobs.pipelines import pipeline_jobs
from carbon_domain.services.reads import pipeline_reads
from carbon_domain.services.reads.pipeline_facts import recoverable_types


class PipelineNotFound(NotFound):
    """No pipeline has this id."""


class CannotRecover(Conflict):
    """The pipeline is still running, or its run left nothing to re-run."""


@dataclass(frozen=True, slots=True)
class RecoveryPlan:
    pipeline_id: uuid.UUID
    status: str
    module_type_id: int
    year: int
    data_entry_type_ids: list[int]


def plan_recovery(session: Session, pipeline_id: uuid.UUID | str) -> RecoveryPlan:
    """What re-running this pipeline's leftovers means; PipelineNotFound / CannotRecover."""
    p = pipeline_reads.get(session, pipeline_id)
    if p is None:
        raise PipelineNotFound(f"pipeline {pipeline_id} not found")
    if p.status == PipelineStatus.RUNNING:
        raise CannotRecover(f"pipeline {p.id} is still running: abort it or wait for it to "
                            "finish, then recover what it left")
    dets = recoverable_types(p, pipeline_jobs(session, p.id))
    if not dets:
        why = ("it succeeded" if p.status == PipelineStatus.SUCCESS else
               "it has no module and year (a units or reference upload)"
               if p.module_type_id is None or p.year is None else
               "its upload wrote nothing (upload the file again)")
        raise CannotRecover(f"pipeline {p.id} ({p.status}) left nothing to recalculate: {why}")
    assert p.module_type_id is not None and p.year is not None  # recoverable_types checked
    return RecoveryPlan(p.id, p.status, p.module_type_id, p.year, dets)
