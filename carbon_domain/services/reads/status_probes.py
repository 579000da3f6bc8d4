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

from sqlalchemy import Integer, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from carbon_domain.catalog import FACILITY_TYPE_IDS, MODULE_DATA_ENTRY_TYPES, ModuleType
from carbon_domain.db.enums import ACTIVE_STATES, JobState, JobType
from carbon_domain.db.models import DataEntry, DataEntryEmission, RecalcChunk
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.json_types import JsonObject
from carbon_domain.reference import READERS
from carbon_domain.services.jobs.jobs import CHANGED_INPUT, GOOD_FINISH
from carbon_domain.services.recalc import inputs_read

#: The upload job kinds that change the inputs of a data entry type, probed per (module,
#: type) and per module (a module-wide upload). Reference uploads have no module or type:
#: ``reference_inputs`` finds them by the kinds a type reads (reference.READERS).
#: ``input_kinds`` says which input kinds a type reads; ``last_input_job`` is the one place
#: that turns the probes into "the last input".
INPUT_TYPES: tuple[str, ...] = (JobType.factor_ingest, JobType.csv_ingest)


def input_kinds(det: int) -> frozenset[str]:
    """The input job kinds that change the numbers of data entry type ``det``: its factor
    and data entry uploads, reference uploads when its formula reads a reference kind, and
    for facility types the recalculations of the other types."""
    kinds = set(INPUT_TYPES)
    if any(det in dets for dets in READERS.values()):
        kinds.add(JobType.reference_ingest)
    if det in FACILITY_TYPE_IDS:
        kinds.add(JobType.emission_recalc)
    return frozenset(kinds)


@dataclass(frozen=True, slots=True)
class ComboIds:
    """Job ids of one (module, type) or, with ``det`` None, of the module as a whole."""

    module: int
    det: int | None
    inputs: dict[str, int | None]  # input kind → its last good job of exactly this scope
    good_recalc: int | None = None  # last FINISHED, non-ERROR recalculation
    finished_recalc: int | None = None  # last FINISHED recalculation, any result
    active_recalc: int | None = None  # the active one (at most one: uq_emission_recalc_active)
    active_aggregation: int | None = None  # module rows only
    active_module_recalc: int | None = None  # module rows only
    # Module rows: the last FINISHED aggregation, any result (ERROR: totals not updated).
    finished_aggregation: int | None = None
    # Last good reference upload of a kind the type reads that changed this year (type rows).
    reference_input: int | None = None
    # Facility type rows: the last good recalculation of any other type of the year.
    feeding_recalc: int | None = None


def last_input_job(combo: ComboIds, module_combo: ComboIds, kinds: frozenset[str]
                   ) -> int | None:
    """The highest-id good input job of ``kinds`` for the type: its own uploads, its
    module's module-wide ones and, when the type reads reference data, the last reference
    upload of a kind it reads that changed the year. A reference upload counts only beside
    the type's own inputs: reference data is not year-scoped, and a year without factors or
    entries of the type has nothing to redo. The same holds for the other types'
    recalculations a facility type reads."""
    ids = [i for c in (combo, module_combo) for k, i in c.inputs.items() if k in kinds and i]
    if ids and JobType.reference_ingest in kinds and combo.reference_input:
        ids.append(combo.reference_input)
    if ids and JobType.emission_recalc in kinds and combo.feeding_recalc:
        ids.append(combo.feeding_recalc)
    return max(ids) if ids else None


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
    recalculation: JsonObject | None  # meta.recalculation of a recalculation job
    aborted_by: str | None = None  # meta.aborted_by of an aborted job
    aborted: bool = False
    progress_done: int = 0
    progress_total: int = 0
    reference_kind: str | None = None  # meta.config.kind of a reference upload
    # A recalculation that wrote into a stage swapped in at its finish (meta.config.stage):
    # stopped before it, its chunks' rows were dropped and the live numbers never changed.
    staged: bool = False
    # A module-wide data entry upload: the types whose entries it kept (it replaced the rest).
    kept_types: tuple[int, ...] = ()
    heartbeat_at: datetime | None = None  # its last sign of progress while it runs
    dispatched_at: datetime | None = None  # sent to the broker (a queued job: since when)


# A research facility type's inputs include the recalculations of the types its factors are
# computed from. The label read "recalculation of a type facility factors read", and a
# reason "recalculation of a type facility factors read #253 of … is newer than …".
FACILITY_SOURCE_OF = "of a type the facility factors are computed from"
FACILITY_SOURCE = f"recalculation {FACILITY_SOURCE_OF}"
_LABELS = {JobType.factor_ingest.value: "factor upload",
           JobType.csv_ingest.value: "data entry upload",
           JobType.emission_recalc.value: FACILITY_SOURCE}


def input_label(brief: JobBrief) -> str:
    """How an operator names an input job: "factor upload", "stations upload", …"""
    if brief.job_type == JobType.reference_ingest and brief.reference_kind:
        return f"{brief.reference_kind} upload"
    return _LABELS.get(brief.job_type, brief.job_type)


def reference_inputs(session: Session, year: int) -> dict[int, int]:
    """Data entry type → the last FINISHED, non-ERROR reference upload of a kind its
    formula reads that changed a number of ``year`` (``meta.affected_years``; absent on
    uploads older than the key: every year).

    Reference uploads are rare (a few per year against thousands of other jobs), so all of
    them are read newest first through ``ix_jobs_combo`` (year NULL, job_type) and
    filtered here, stopping once every kind has its latest."""
    rows = session.execute(
        select(Job.id, Job.meta["config"]["kind"].as_string(), Job.meta["affected_years"])
        .where(Job.year.is_(None), Job.job_type == JobType.reference_ingest, GOOD_FINISH)
        .order_by(Job.id.desc()))
    latest: dict[str, int] = {}
    for job_id, kind, years in rows:
        if kind not in READERS or kind in latest:
            continue
        if isinstance(years, list) and year not in years:
            continue
        latest[kind] = int(job_id)
        if len(latest) == len(READERS):
            break
    out: dict[int, int] = {}
    for kind, job_id in latest.items():
        for det in READERS[kind]:
            out[det] = max(out.get(det, 0), job_id)
    return out


def _latest(year: int, job_type: str, module: Any, det: Any, *conds: Any) -> Any:
    det_cond = Job.data_entry_type_id.is_(None) if det is None else Job.data_entry_type_id == det
    return (select(Job.id)
            .where(Job.year == year, Job.job_type == job_type, Job.module_type_id == module,
                   det_cond, *conds)
            .order_by(Job.id.desc()).limit(1).scalar_subquery())


def _active(year: int, job_type: str, module: Any, det: Any) -> Any:
    # max() instead of ORDER BY id LIMIT 1: with no active job the backward scan of
    # ix_jobs_combo would visit the whole history; this lets the planner take the partial
    # unique indexes (uq_emission_recalc_active, uq_aggregation_active) or ix_jobs_state,
    # which only hold the few active rows.
    det_cond = Job.data_entry_type_id.is_(None) if det is None else Job.data_entry_type_id == det
    return (select(func.max(Job.id))
            .where(Job.year == year, Job.job_type == job_type, Job.module_type_id == module,
                   det_cond, Job.state.in_([s.value for s in ACTIVE_STATES]))
            .scalar_subquery())


def combo_ids(session: Session, year: int, modules: list[int] | None = None) -> list[ComboIds]:
    """Two statements: probes per module (det NULL) and per (module, type).

    The (module, type) pairs are a small derived table and the probes correlated
    subqueries over it, so PostgreSQL plans each probe once (planning 150 separate probes
    cost ~40 ms, more than running them).
    """
    wanted = [m for m in ModuleType if modules is None or m.value in modules]
    if not wanted:
        return []
    mods = union_all(*[select(literal(m.value, Integer).label("m")) for m in wanted]).cte("mods")
    pairs = union_all(*[
        select(literal(m.value, Integer).label("m"), literal(d.value, Integer).label("d"))
        for m in wanted for d in MODULE_DATA_ENTRY_TYPES[m]]).cte("pairs")
    k = len(INPUT_TYPES)
    module_rows = session.execute(select(
        mods.c.m,
        *[_latest(year, kind, mods.c.m, None, GOOD_FINISH, CHANGED_INPUT) for kind in INPUT_TYPES],
        _active(year, JobType.aggregation, mods.c.m, None),
        _active(year, JobType.module_emission_recalc, mods.c.m, None),
        _latest(year, JobType.aggregation, mods.c.m, None, Job.state == JobState.FINISHED)))
    out = [ComboIds(row[0], None, dict(zip(INPUT_TYPES, row[1:1 + k], strict=True)),
                    active_aggregation=row[1 + k], active_module_recalc=row[2 + k],
                    finished_aggregation=row[3 + k])
           for row in module_rows]
    m, d = pairs.c.m, pairs.c.d
    type_rows = session.execute(select(
        m, d, *[_latest(year, kind, m, d, GOOD_FINISH, CHANGED_INPUT) for kind in INPUT_TYPES],
        _latest(year, JobType.emission_recalc, m, d, GOOD_FINISH),
        _latest(year, JobType.emission_recalc, m, d, Job.state == JobState.FINISHED),
        _active(year, JobType.emission_recalc, m, d)))
    refs = reference_inputs(session, year)
    rows = list(type_rows)
    feeding = None
    if any(row[1] in FACILITY_TYPE_IDS for row in rows):  # all types probed: no extra statement
        feeding = (max((row[2 + k] or 0 for row in rows if row[1] not in FACILITY_TYPE_IDS),
                       default=0) or None) if modules is None else feeding_recalc(session, year)
    out += [ComboIds(row[0], row[1], dict(zip(INPUT_TYPES, row[2:2 + k], strict=True)),
                     good_recalc=row[2 + k], finished_recalc=row[3 + k],
                     active_recalc=row[4 + k], reference_input=refs.get(row[1]),
                     feeding_recalc=feeding if row[1] in FACILITY_TYPE_IDS else None)
            for row in rows]
    return out


def feeding_recalc(session: Session, year: int) -> int | None:
    """The last good recalculation of ``year`` of a type that is not a facility type: one
    index probe per (module, type), as ``combo_ids`` makes them."""
    pairs = union_all(*[
        select(literal(m.value, Integer).label("m"), literal(d.value, Integer).label("d"))
        for m, dets in MODULE_DATA_ENTRY_TYPES.items() for d in dets
        if d.value not in FACILITY_TYPE_IDS]).cte("feeding_pairs")
    last = _latest(year, JobType.emission_recalc, pairs.c.m, pairs.c.d, GOOD_FINISH)
    found = session.scalar(select(func.max(last)).select_from(pairs))
    return int(found) if found else None


def covering_recalcs(session: Session, year: int, wanted: list[tuple[int, int, int]]
                     ) -> dict[tuple[int, int], int]:
    """For (module, type, input id) triples: the recalculation that was active when the
    input arrived and promised to read it (``covers_input_job_id``), if it finished
    well; {(module, type): its id}.

    Only one recalculation of a (module, type, year) is active at a time, so the one active
    when the input arrived is the highest-id recalculation below it: one probe per triple,
    all in one statement.
    """
    if not wanted:
        return {}
    src = union_all(*[select(literal(m, Integer).label("m"), literal(d, Integer).label("d"),
                             literal(i, Integer).label("i")) for m, d, i in wanted]).cte("src")
    below = (select(Job.id).where(
        Job.year == year, Job.job_type == JobType.emission_recalc,
        Job.module_type_id == src.c.m, Job.data_entry_type_id == src.c.d, Job.id < src.c.i)
        .order_by(Job.id.desc()).limit(1).scalar_subquery())
    prev = select(src.c.m, src.c.d, src.c.i, below.label("prev")).subquery()
    rows = session.execute(
        select(prev.c.m, prev.c.d, Job.id)
        .join(Job, Job.id == prev.c.prev)
        .where(GOOD_FINISH, Job.covers_input_job_id >= prev.c.i))
    return {(int(m), int(d)): int(i) for m, d, i in rows}


def job_briefs(session: Session, ids: set[int]) -> dict[int, JobBrief]:
    if not ids:
        return {}
    rows = session.execute(select(
        Job.id, Job.job_type, Job.state, Job.result, Job.status_message, Job.pipeline_id,
        Job.created_by, Job.created_at, Job.finished_at, Job.meta["recalculation"],
        Job.meta["aborted_by"].as_string(), Job.meta["aborted"].as_boolean(),
        Job.progress_done, Job.progress_total,
        Job.meta["config"]["kind"].as_string(), Job.meta["config"]["stage"].as_string(),
        Job.meta["kept_data_entry_type_ids"], Job.heartbeat_at, Job.dispatched_at,
    ).where(Job.id.in_(sorted(ids))))
    return {r[0]: JobBrief(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                           bool(r[11]), int(r[12] or 0), int(r[13] or 0),
                           r[14] if r[1] == JobType.reference_ingest else None,
                           bool(r[15]), _ints(r[16]), r[17], r[18]) for r in rows}


def _ints(v: Any) -> tuple[int, ...]:
    return tuple(int(i) for i in v) if isinstance(v, list) else ()


def chunk_progress(session: Session, job_ids: set[int]) -> dict[int, tuple[int, int]]:
    """{job id: (chunks done, chunks planned)} of recalculations (where a failed or aborted
    run stopped)."""
    if not job_ids:
        return {}
    rows = session.execute(
        select(RecalcChunk.job_id, func.count(),
               func.coalesce(func.sum(case((RecalcChunk.done.is_(True), 1), else_=0)), 0))
        .where(RecalcChunk.job_id.in_(sorted(job_ids))).group_by(RecalcChunk.job_id))
    return {int(j): (int(d), int(n)) for j, n, d in rows}


def first_input_after(session: Session, year: int, wanted: list[tuple[int, int, int]]
                      ) -> dict[tuple[int, int], tuple[int, datetime | None]]:
    """For (module, type, after id): the first good input job above ``after`` that changed
    the type's numbers of ``year``, with its finish time: since when the type has needed
    recalculation. The inputs are the ones its staleness reads (``inputs_read.inputs_of``:
    its own and module-wide uploads, reference uploads of a kind it reads, for a facility
    type the other types' recalculations), by the same rules as ``last_input_job``: a
    reference upload only for a year among its ``affected_years``, and a reference upload or
    another type's recalculation only once the type has an input of its own. One probe per
    stale type (a handful), for the monitoring read."""
    out: dict[tuple[int, int], tuple[int, datetime | None]] = {}
    own_kinds = {k.value for k in (JobType.factor_ingest, JobType.csv_ingest)}
    for module, det, after in wanted:
        rows = session.execute(
            select(Job.id, Job.finished_at, Job.job_type, Job.meta["affected_years"]).where(
                inputs_read.inputs_of(module, det, year), Job.id > after, GOOD_FINISH,
                CHANGED_INPUT)
            .order_by(Job.id))
        own_before: bool | None = None  # an input of its own at or below ``after``
        for job_id, finished_at, kind, years in rows:
            if kind == JobType.reference_ingest and isinstance(years, list) and year not in years:
                continue
            if kind not in own_kinds:
                if own_before is None:
                    own_before = session.scalar(select(Job.id).where(
                        inputs_read.own_inputs(module, det, year), Job.id <= after,
                        GOOD_FINISH, CHANGED_INPUT).limit(1)) is not None
                if not own_before:
                    continue
            out[(module, det)] = (int(job_id), finished_at)
            break
    return out


def types_with_something(session: Session, year: int, dets: set[int]) -> set[int]:
    """Of ``dets``, the types with an entry or an emission row of ``year``: one statement
    for the year, two index probes per type (``ix_data_entries_slice``; the rows' (type,
    year) partition, pruned at planning since both are literals). Asked only of the types
    no recalculation ever finished for (``status_facts.cores``): after a factor upload,
    the types of the module without entries yet, or whose entries wait for their first run."""
    if not dets:
        return set()

    def held(d: int) -> Any:
        return or_(
            select(DataEntry.id).where(DataEntry.data_entry_type_id == d,
                                       DataEntry.year == year).exists(),
            select(DataEntryEmission.data_entry_id).where(
                DataEntryEmission.data_entry_type_id == d,
                DataEntryEmission.year == year).exists())
    order = sorted(dets)
    found = session.execute(select(*[held(d) for d in order])).one()
    return {d for d, has in zip(order, found, strict=True) if has}
