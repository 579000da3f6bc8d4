"""The job-history side of the staleness status: a few index probes per (module, type, year).

Each probe is ``SELECT id … ORDER BY id DESC LIMIT 1`` on ``ix_jobs_combo`` (year, job_type,
module, type, id), so the cost depends on the number of (module, type) combos (31), not on
the number of jobs in the year: with 100,000 historical jobs the whole read stays a few ms
(``python -m bench.status_read``), where loading every job with its meta took 6.7-7.0 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, func, literal, select, union_all
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job

INPUT_TYPES = (JobType.factor_ingest, JobType.csv_ingest)
_GOOD = and_(Job.state == JobState.FINISHED, func.coalesce(Job.result, "") != JobResult.ERROR)


@dataclass(frozen=True, slots=True)
class ComboIds:
    """Job ids of one (module, type) or, with ``det`` None, of the module as a whole."""

    module: int
    det: int | None
    factor_input: int | None  # last good factor upload of exactly this scope
    data_input: int | None  # last good data entry upload of exactly this scope
    good_recalc: int | None = None  # last FINISHED, non-ERROR recalculation
    finished_recalc: int | None = None  # last FINISHED recalculation, any result
    active_recalc: int | None = None  # the active one (at most one: uq_emission_recalc_active)
    active_aggregation: int | None = None  # module rows only
    active_module_recalc: int | None = None  # module rows only


@dataclass(frozen=True, slots=True)
class JobBrief:
    """The columns the status shows of a job; never its meta (row errors can be large)."""

    id: int
    job_type: str
    state: str
    result: str | None
    status_message: str | None
    pipeline_id: Any
    created_by: str | None
    created_at: datetime | None
    finished_at: datetime | None
    recalculation: dict[str, Any] | None  # meta.recalculation of a recalculation job


def _latest(year: int, job_type: str, module: int, det: int | None, *conds: Any) -> Any:
    det_cond = Job.data_entry_type_id.is_(None) if det is None else Job.data_entry_type_id == det
    return (select(Job.id)
            .where(Job.year == year, Job.job_type == job_type, Job.module_type_id == module,
                   det_cond, *conds)
            .order_by(Job.id.desc()).limit(1).scalar_subquery())


def combo_ids(session: Session, year: int, modules: list[int] | None = None) -> list[ComboIds]:
    """One statement: a row of probes per (module, type) and per module (det NULL)."""
    wanted = [m for m in ModuleType if modules is None or m.value in modules]
    active = Job.state.in_(ACTIVE_STATES)
    parts = []
    for module in wanted:
        m = module.value
        for det in (None, *[d.value for d in MODULE_DATA_ENTRY_TYPES[module]]):
            inputs = [_latest(year, JobType.factor_ingest, m, det, _GOOD),
                      _latest(year, JobType.csv_ingest, m, det, _GOOD)]
            if det is None:
                tail = [literal(None, Integer), literal(None, Integer), literal(None, Integer),
                        _latest(year, JobType.aggregation, m, None, active),
                        _latest(year, JobType.module_emission_recalc, m, None, active)]
            else:
                tail = [_latest(year, JobType.emission_recalc, m, det, _GOOD),
                        _latest(year, JobType.emission_recalc, m, det,
                                Job.state == JobState.FINISHED),
                        _latest(year, JobType.emission_recalc, m, det, active),
                        literal(None, Integer), literal(None, Integer)]
            cols = [literal(m, Integer), literal(det, Integer), *inputs, *tail]
            parts.append(select(*[c.label(f"c{i}") for i, c in enumerate(cols)]))
    if not parts:
        return []
    return [ComboIds(*row) for row in session.execute(union_all(*parts))]


def covering_recalc(session: Session, year: int, module: int, det: int, input_id: int
                    ) -> int | None:
    """The recalculation that was active when input ``input_id`` arrived and promised to
    read it (``meta.covers_input_job_id``), if it finished well.

    Only one recalculation of a (module, type, year) is active at a time, so the one active
    when the input arrived is the highest-id recalculation below it: one more probe.
    """
    row = session.execute(
        select(Job.id, Job.state, Job.result, Job.meta["covers_input_job_id"].as_integer())
        .where(Job.year == year, Job.job_type == JobType.emission_recalc,
               Job.module_type_id == module, Job.data_entry_type_id == det, Job.id < input_id)
        .order_by(Job.id.desc()).limit(1)).first()
    if row is None or row[1] != JobState.FINISHED or row[2] == JobResult.ERROR:
        return None
    return int(row[0]) if row[3] is not None and int(row[3]) >= input_id else None


def job_briefs(session: Session, ids: set[int]) -> dict[int, JobBrief]:
    if not ids:
        return {}
    rows = session.execute(select(
        Job.id, Job.job_type, Job.state, Job.result, Job.status_message, Job.pipeline_id,
        Job.created_by, Job.created_at, Job.finished_at, Job.meta["recalculation"],
    ).where(Job.id.in_(sorted(ids))))
    return {r[0]: JobBrief(*r) for r in rows}
