"""Per-slice kg sums folded from the chunks' partial sums: aggregation in proportion to what
changed, not to every emission row of the module.

Each chunk records in its ``recalc_chunks.partials`` what it adds to its (type, year)
slice's sums, per report module and emission type: a full recalculation's chunk the
absolute sums of its entries, an incremental chunk the difference (new rows − the rows it
deleted). ``module_totals`` (called by the aggregation, under its year lock) folds every
finished recalculation since the slice's version into ``slice_emission_sums``, in job id
order, and returns the module's totals from those few rows.

Sums are exact decimals (a float8 converted as PostgreSQL's ``float8::numeric`` does, 15
significant digits, then added without rounding), so folding deltas in any order gives the
very sum a rebuild from the rows gives, and stats stay identical to a full run's. Anything
the fold cannot vouch for — no version yet, a failed or re-planned job, a chunk without
partials, entries replaced since — rebuilds the slice's sums from its rows (one GROUP BY),
or, while a recalculation of that slice is still writing, answers None so the caller keeps
its full query. PostgreSQL only (None elsewhere). ``slice_sums_read`` reads what the fold
would give some report modules without folding (the research-facility refresh).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, text
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, MODULE_OF, DataEntryType, ModuleType
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import SliceSumVersion
from carbon_domain.services.jobs.job_meta import job_config
from carbon_domain.services.recalc import chunk_sums
from carbon_domain.services.recalc.chunk_sums import ENTRIES, MISSING


@dataclass(frozen=True)
class ModuleTotals:
    kg: dict[int, dict[int, float]]   # report module id → emission type → kg
    entries: dict[int, int]           # report module id → entries
    missing: dict[int, int]           # report module id → entries without a row


def module_totals(session: Session, module_type_id: int, year: int) -> ModuleTotals | None:
    """The module's totals per report module, from the folded slice sums (None: use the
    full query — not PostgreSQL, or a slice is being rewritten and cannot be vouched for)."""
    if not dialect_of(session).exact_sums:
        return None
    module = ModuleType(module_type_id)
    dets = [int(d) for d in MODULE_DATA_ENTRY_TYPES[module]]
    plans = fold_plans(session, year, dets)
    if any(p is None for p in plans.values()):
        return None  # nothing was written: the caller's full query is always right
    for det in dets:
        plan = plans[det]
        assert plan is not None  # checked above
        _apply(session, det, year, plan)
    out = ModuleTotals({}, {}, {})
    for crm, et, kg, n in session.execute(text(
            "SELECT carbon_report_module_id, emission_type_id, sum(kg), sum(n)"
            " FROM slice_emission_sums WHERE year = :y AND data_entry_type_id IN :dets"
            " GROUP BY 1, 2").bindparams(bindparam("dets", expanding=True)),
            {"y": year, "dets": dets}):
        if et == ENTRIES:
            out.entries[crm] = int(n)
        elif et == MISSING:
            if n:
                out.missing[crm] = int(n)
        elif n:
            out.kg.setdefault(crm, {})[int(et)] = float(kg)
    return out


@dataclass(frozen=True)
class FoldPlan:
    rebuild: bool
    jobs: list[int]          # folded in this order (the first may be a full replace)
    version: int
    full: frozenset[int] = frozenset()  # jobs whose sums replace the slice's
    stored: int | None = None  # the version the plan started from (None: no sums yet)


def fold_plans(session: Session, year: int, dets: Sequence[int]
               ) -> dict[int, FoldPlan | None]:
    """How each slice of ``dets`` is folded (None: it is being rewritten and cannot be
    rebuilt now). Five queries for any number of slices, not three or more per slice: the
    facility refresh plans every other type of the year (21 slices, ~65 round trips, 0.18-
    0.27 s at load 4-5 where their CPU was 0.03 s)."""
    wanted = sorted(set(dets))
    if not wanted:
        return {}
    # Read afresh (a query, never the identity map): ``slice_sums_read.read_sums`` plans
    # without the year lock, and a fold may have moved a version since this session read it.
    versions: dict[int, int] = {int(d): int(j) for d, j in session.execute(
        select(SliceSumVersion.data_entry_type_id, SliceSumVersion.job_id).where(
            SliceSumVersion.year == year, SliceSumVersion.data_entry_type_id.in_(wanted)))}
    finished: dict[int, list[Any]] = {d: [] for d in wanted}
    for j in session.execute(select(
            Job.id, Job.data_entry_type_id, Job.result, Job.attempts, Job.meta).where(
            Job.job_type == JobType.emission_recalc, Job.year == year,
            Job.state == JobState.FINISHED,
            or_(*[(Job.data_entry_type_id == d) & (Job.id > versions.get(d, 0))
                  for d in wanted])).order_by(Job.id)):
        finished[int(j.data_entry_type_id)].append(j)
    chunks: dict[int, list[tuple[bool, str | None]]] = {}
    job_ids = [j.id for js in finished.values() for j in js]
    if job_ids:
        for job_id, done, mode in session.execute(text(
                "SELECT job_id, done, partials ->> 'mode' FROM recalc_chunks"
                " WHERE job_id IN :ids").bindparams(bindparam("ids", expanding=True)),
                {"ids": job_ids}):
            chunks.setdefault(int(job_id), []).append((bool(done), mode))
    modules = {d: MODULE_OF[DataEntryType(d)].value for d in wanted}
    # The newest finished data entry upload of each (module, type or whole module).
    uploads: dict[tuple[int, int | None], int] = {
        (m, t): int(i) for m, t, i in session.execute(
            select(Job.module_type_id, Job.data_entry_type_id, func.max(Job.id)).where(
                Job.job_type == JobType.csv_ingest, Job.year == year,
                Job.module_type_id.in_(sorted(set(modules.values()))),
                Job.state == JobState.FINISHED).group_by(Job.module_type_id,
                                                        Job.data_entry_type_id))
        if m is not None}
    busy = {d for d in session.scalars(select(Job.data_entry_type_id).where(
        Job.job_type == JobType.emission_recalc, Job.data_entry_type_id.in_(wanted),
        Job.year == year, Job.state.in_(ACTIVE_STATES)).distinct()) if d is not None}
    out: dict[int, FoldPlan | None] = {}
    for det in wanted:
        version = versions.get(det)
        jobs = finished[det]
        modes = {j.id: _job_mode(j, chunks.get(j.id, [])) for j in jobs}
        # Start from the newest full job with complete partials, else from the stored version.
        start = next((i for i in range(len(jobs) - 1, -1, -1)
                      if modes[jobs[i].id] == "full"), None)
        tail = jobs[start:] if start is not None else jobs
        last = jobs[-1].id if jobs else (version or 0)
        replaced = max(uploads.get((modules[det], det), 0),
                       uploads.get((modules[det], None), 0)) > last
        sound = (start is not None or version is not None) and not replaced and all(
            modes[j.id] == "full" if k == 0 and start is not None else modes[j.id] == "delta"
            for k, j in enumerate(tail))
        if sound:
            out[det] = FoldPlan(False, [j.id for j in tail], last,
                             frozenset(j.id for j in tail if modes[j.id] == "full"), version)
        elif det in busy:
            out[det] = None  # its chunks are committing rows the rebuild would half-see
        else:
            out[det] = FoldPlan(True, [], last, stored=version)
    return out


def _job_mode(job: Any, chunks: list[tuple[bool, str | None]]) -> str | None:
    """"full" / "delta" when every chunk of a clean single-attempt job recorded partials."""
    if job.result == JobResult.ERROR or job.attempts != 1:
        return None
    if not chunks:
        # No chunk ran. An incremental job with nothing to do changes nothing; a full one
        # found its slice empty (its entries were removed): its sums are zero, and folding
        # nothing must not leave the old ones standing.
        scope = job_config(job.meta).scope
        if scope is None or scope.incremental is None:
            return None  # not planned as we know it: rebuild from the rows
        return "delta" if scope.incremental else "full"
    modes = {mode if done else None for done, mode in chunks}
    return modes.pop() if len(modes) == 1 and None not in modes else None


def _apply(session: Session, det: int, year: int, plan: FoldPlan) -> None:
    if plan.rebuild:
        _rebuild(session, det, year)
    for job_id in plan.jobs:
        # Set-based, in the server: the partials never travel to Python (a 1M run's member
        # slice alone holds ~12k cells per chunk).
        replace = job_id in plan.full
        if replace:
            session.execute(text("DELETE FROM slice_emission_sums WHERE data_entry_type_id = :d"
                                 " AND year = :y"), {"d": det, "y": year})
        # A replace inserts into an emptied slice, one row per cell (GROUP BY): no conflict
        # can arise, and the ON CONFLICT arbiter's speculative insertion is skipped (12,144
        # member cells of the 1M bench: 62-88 → 40-51 ms, EXPLAIN ANALYZE 2026-12-07).
        session.execute(text(
            "INSERT INTO slice_emission_sums AS s (data_entry_type_id, year,"
            " carbon_report_module_id, emission_type_id, kg, n)"
            " SELECT :d, :y, (c ->> 0)::int, (c ->> 1)::int, sum((c ->> 2)::numeric),"
            " sum((c ->> 3)::bigint) FROM recalc_chunks r,"
            " jsonb_array_elements(r.partials -> 'sums') c WHERE r.job_id = :j"
            " GROUP BY 3, 4 ORDER BY 3, 4"
            + ("" if replace else
               " ON CONFLICT (data_entry_type_id, year, carbon_report_module_id,"
               " emission_type_id) DO UPDATE SET kg = s.kg + EXCLUDED.kg,"
               " n = s.n + EXCLUDED.n")),
            {"d": det, "y": year, "j": job_id})
    session.execute(delete(SliceSumVersion).where(
        SliceSumVersion.data_entry_type_id == det, SliceSumVersion.year == year))
    session.add(SliceSumVersion(data_entry_type_id=det, year=year, job_id=plan.version))
    # Folded partials are never read again (a member chunk's are ~0.5 MB): drop them.
    session.execute(text(
        "UPDATE recalc_chunks SET partials = NULL WHERE partials IS NOT NULL AND job_id IN"
        " (SELECT id FROM data_ingestion_jobs WHERE job_type = 'emission_recalc'"
        " AND data_entry_type_id = :d AND year = :y AND state = 'FINISHED' AND id <= :v)"),
        {"d": det, "y": year, "v": plan.version})
    session.flush()


def _rebuild(session: Session, det: int, year: int) -> None:
    """The slice's sums straight from its rows (entry-driven, as the aggregation reads)."""
    session.execute(text("DELETE FROM slice_emission_sums WHERE data_entry_type_id = :d"
                         " AND year = :y"), {"d": det, "y": year})
    session.execute(text(
        "INSERT INTO slice_emission_sums (data_entry_type_id, year, carbon_report_module_id,"
        " emission_type_id, kg, n) SELECT :d, :y, t.crm, t.et, t.kg, t.n FROM ("
        + chunk_sums.cells_sql("LATERAL (SELECT x.emission_type_id, x.kg_co2eq"
                               " FROM data_entry_emissions x WHERE x.data_entry_id = de.id"
                               " AND x.data_entry_type_id = :d AND x.year = :y OFFSET 0)"
                               " e ON true")
        + ") t"), {"d": det, "y": year})
