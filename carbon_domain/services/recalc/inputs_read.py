"""Which input jobs a recalculation read: recorded by its plan, read by the staleness status.

An upload job gets its id when it is accepted, but its rows land when the job finishes (its
work and its FINISHED state commit together, carbon_tasks/base.py). Ids alone therefore
cannot say what a recalculation read: an upload accepted before it may land after its plan
read the inputs (never read, though its id is lower), and one accepted after it may land
before its plan (read, though its id is higher). So the plan records, in the job's config,
``inputs_read = {upto, pending}``: ``upto`` the highest input job of the slice that had
landed when the plan read, ``pending`` the input jobs below ``upto`` that had not. An input
was read when its id is ≤ ``upto`` and not pending. The slice's inputs are the ones
incremental planning compares against (``relevant_inputs``, defined here because the
status read imports this module and must not load the planner, affected.py): factor and data
entry uploads of the type or its module for the year, reference uploads of a kind it reads.

Recalculations planned before this record have no ``inputs_read``; the status keeps the id
rule for them (status_facts.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import FACILITY_TYPE_IDS
from carbon_domain.db.enums import ACTIVE_STATES, JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.json_types import JsonObject
from carbon_domain.reference import kinds_read_by
from carbon_domain.services.jobs.job_meta import InputsRead, config_with, updated
from carbon_domain.services.jobs.jobs import CHANGED_INPUT, GOOD_FINISH
from carbon_domain.services.recalc.affected_refs import reference_jobs

__all__ = ["InputsRead", "inputs_of", "landed", "note_facility_refresh", "own_inputs", "record",
           "recorded", "unread"]


def own_inputs(module: int, det: int, year: int) -> Any:
    """The slice's own input jobs: factor and data entry uploads of the type or its module
    for the year."""
    return ((Job.job_type.in_([JobType.factor_ingest, JobType.csv_ingest]))
            & (Job.module_type_id == module) & (Job.year == year)
            & ((Job.data_entry_type_id == det) | Job.data_entry_type_id.is_(None)))


def relevant_inputs(module: int, det: int, year: int) -> Any:
    """Input jobs of the slice: factor and data entry uploads of the type or its module, and
    reference uploads of a kind the type reads (any year: stations are not year-scoped)."""
    own = own_inputs(module, det, year)
    kinds = kinds_read_by(det)
    return (own | reference_jobs(kinds)) if kinds else own


def inputs_of(module: int, det: int, year: int) -> Any:
    """The slice's inputs and, for a facility type, the recalculations of every other type
    of the year: its factors are computed from their rows (services/recalc/facilities.py).
    What a plan records it read, and what the monitoring read dates staleness from."""
    cond = relevant_inputs(module, det, year)
    if det not in FACILITY_TYPE_IDS:
        return cond
    return cond | ((Job.job_type == JobType.emission_recalc) & (Job.year == year)
                   & Job.data_entry_type_id.not_in(FACILITY_TYPE_IDS))


def record(session: Session, module: int, det: int, year: int) -> JsonObject:
    """What the plan of a (module, type, year) recalculation reads now, as stored JSON."""
    cond = inputs_of(module, det, year)
    upto = int(session.scalar(select(func.max(Job.id)).where(
        cond, Job.state == JobState.FINISHED)) or 0)
    # Active input jobs are a handful at any time (ix_jobs_state holds only those).
    pending = session.scalars(select(Job.id).where(
        cond, Job.state.in_(ACTIVE_STATES), Job.id < upto).order_by(Job.id))
    return InputsRead(upto=upto, pending=[int(i) for i in pending]).model_dump(mode="json")


def recorded(session: Session, job_ids: Iterable[int]) -> dict[int, InputsRead]:
    """{recalculation job id: what its plan read}, for the jobs that recorded it."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    rows = session.execute(select(Job.id, Job.meta["config"]["inputs_read"])
                           .where(Job.id.in_(ids)))
    return {int(i): InputsRead.model_validate(v) for i, v in rows if isinstance(v, dict)}


def landed(session: Session, year: int, ids: Iterable[int]) -> set[int]:
    """Of input jobs a plan saw pending, the ones that have since landed and changed
    ``year``: FINISHED and not ERROR (a failed upload rolled its rows back), not a factor
    upload that changed no factor (``CHANGED_INPUT``), and, for a reference upload,
    ``year`` among its ``affected_years`` (absent: every year)."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    rows = session.execute(select(Job.id, Job.job_type, Job.meta["affected_years"])
                           .where(Job.id.in_(wanted), GOOD_FINISH, CHANGED_INPUT))
    return {int(i) for i, kind, years in rows
            if kind != JobType.reference_ingest or not isinstance(years, list)
            or year in years}


def unread(read: InputsRead, last_input: int, landed_pending: set[int]) -> int | None:
    """The input job a recalculation that read ``read`` did not read, if any: the last
    input when it landed after the plan's ``upto``, else the latest of the inputs pending
    then that have landed since (``landed``)."""
    if last_input > read.upto:
        return last_input
    late = landed_pending.intersection(read.pending)
    return max(late) if late else None


def note_facility_refresh(session: Session, job_ids: Iterable[int]) -> None:
    """Record again what the facility recalculations ``job_ids`` read, as the facility factor
    refresh is about to read the other types' rows. Their plans ran beside those types' own
    recalculations of the same pipeline (then still running, so pending), but the refresh
    runs after them: what it reads is what the facility rows are computed from. Noted before
    the refresh reads, so a recalculation landing in between counts as unread (stale)."""
    for job in session.scalars(select(Job).where(Job.id.in_(sorted(set(job_ids))))
                               .with_for_update(key_share=True)):  # NO KEY, as jobs take it
        if job.module_type_id is None or job.data_entry_type_id is None or job.year is None:
            continue
        read = record(session, job.module_type_id, job.data_entry_type_id, job.year)
        job.meta = updated(job.meta, config=config_with(job.meta, inputs_read=read))
