"""Set-based aggregation of module and report statistics for one (module type, year).

A unit's total that does not fit a float (entries each finite, their sum not: amounts like
1e308 CHF) fails the run with :class:`TotalNotFinite`, which names the unit, the module and
the emission type; the run writes nothing (its session is rolled back) and ends ERROR with
that message, which every surface shows as the module's "totals not updated" state. Such a
failure is deterministic: the reconciler does not re-run it until an input changes
(services/upkeep/reconcile.py ``due_aggregations``).

Uploads now refuse such amounts (``carbon_domain/numbers.py``: within its limits a row's kg
stays below ~1e45, so no sum of them overflows); the check stays for data stored before
those limits, and the error names the unit to correct."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, literal, select, text, union_all, update
from sqlalchemy.orm import Session

from carbon_domain import stats as stats_lib
from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
from carbon_domain.db import locks
from carbon_domain.db.base import utcnow
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType
from carbon_domain.db.models import CarbonReport, CarbonReportModule, Unit
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.emission_types import EmissionType
from carbon_domain.json_types import JsonObject
from carbon_domain.services.jobs import jobs
from carbon_domain.services.jobs.job_meta import InputsRead
from carbon_domain.services.jobs.job_runs import JobOutcome
from carbon_domain.services.recalc import slice_sums
from carbon_domain.services.recalc.formula_record import recorded_formula_versions


def _comparable(s: Mapping[str, object] | None) -> dict[str, object]:
    return stats_lib.stored_form(s or {})


def _kg_and_missing(session: Session, year: int, dets: list[int]
                    ) -> tuple[dict[int, dict[int, float]], dict[int, int]]:
    kg: dict[int, dict[int, float]] = {}
    missing: dict[int, int] = {}
    for mid, et, total, n in dialect_of(session).module_kg_rows(session, year, dets):
        if et is None:
            missing[mid] = int(n)
        else:
            kg.setdefault(mid, {})[int(et)] = float(total)
    return kg, missing


class TotalNotFinite(ValueError):
    """A unit's total of the module is not a finite number (its entries' sum overflows)."""


def _not_finite(session: Session, module_type_id: int, year: int, report_ids: list[int],
                by_type: Mapping[int, float], exc: Exception) -> TotalNotFinite:
    """The error naming the unit(s) of ``report_ids`` and the emission type whose kg is
    not finite: "the purchase total of unit Lab A (UA) for 2025 is not finite: kg of
    emission type 90600 (purchases__…) is inf — its entries' amounts are too large to add
    up"."""
    units = session.execute(
        select(Unit.name, Unit.institutional_id, Unit.institutional_code)
        .join(CarbonReport, CarbonReport.unit_id == Unit.id)
        .where(CarbonReport.id.in_(report_ids)).order_by(Unit.name)).all()
    who = ", ".join(f"{name} ({iid or code})" for name, iid, code in units) or "unknown"
    bad = [(int(k), float(v)) for k, v in by_type.items() if not math.isfinite(float(v))]
    if bad:
        et, kg = bad[0]
        try:
            path = f" ({EmissionType(et).path})"
        except ValueError:
            path = ""
        what = f"kg of emission type {et}{path} is {kg!r}"
    else:
        what = str(exc) or type(exc).__name__
    return TotalNotFinite(
        f"the {ModuleType(module_type_id).name} total of unit{'s' if len(units) > 1 else ''}"
        f" {who} for {year} is not finite: {what} — its entries' amounts are too large to"
        " add up")


@dataclass(frozen=True, slots=True)
class AggregateRun:
    """One aggregation run: modules recomputed, those whose stats changed, the reports
    rewritten for them, and the entries counted."""

    modules: int
    modules_changed: int
    reports_changed: int
    entries: int


def aggregate_module_year(session: Session, module_type_id: int, year: int) -> AggregateRun:
    """Rebuild `stats` of every module of this type in this year from emission rows (two
    GROUP BY queries), then the stats of the reports whose module stats changed."""
    # One writer per year on the shared report rows (the old system deadlocked here).
    locks.xact_lock(session, locks.AGGREGATION_YEAR, year)
    dets = [int(d) for d in MODULE_DATA_ENTRY_TYPES[ModuleType(module_type_id)]]
    modules = session.execute(
        select(CarbonReportModule.id, CarbonReportModule.carbon_report_id, CarbonReportModule.stats)
        .join(CarbonReport, CarbonReport.id == CarbonReportModule.carbon_report_id)
        .where(CarbonReportModule.module_type_id == module_type_id, CarbonReport.year == year)
    ).all()
    params = {"y": year, "dets": dets}
    # Folded from the chunks' partial sums (services/recalc/slice_sums.py), None = the full queries.
    folded = slice_sums.module_totals(session, module_type_id, year)
    kg, missing = (folded.kg, folded.missing) if folded else _kg_and_missing(session, year, dets)
    counts: dict[int, tuple[int, int]] = {}
    for mid, n in folded.entries.items() if folded else session.execute(text(
        "SELECT carbon_report_module_id, count(*) FROM data_entries"
        " WHERE year = :y AND data_entry_type_id IN :dets GROUP BY 1"
    ).bindparams(bindparam("dets", expanding=True)), params):
        counts[mid] = (int(n), missing.get(mid, 0))
    now = utcnow()
    versions = recorded_formula_versions(session, module_type_id, year)
    changed_reports: set[int] = set()
    updates = []
    for mid, report_id, old in modules:
        n, n_missing = counts.get(mid, (0, 0))
        try:
            new = stats_lib.module_stats(kg.get(mid, {}), n, n_missing, computed_at=now,
                                         formula_version=versions)
        except (ValueError, OverflowError) as exc:
            by_type = kg.get(mid, {})
            if isinstance(exc, ValueError) and all(math.isfinite(v) for v in by_type.values()):
                raise  # not an overflow (an emission type without a scope)
            raise _not_finite(session, module_type_id, year, [report_id], by_type,
                              exc) from exc
        if _comparable(new) != _comparable(old):
            changed_reports.add(report_id)
            updates.append({"mid": mid, "new_stats": new})
    _write_stats(session, "carbon_report_modules", [(u["mid"], u["new_stats"]) for u in updates],
                 now, set_status=True)
    # Freshness (seed 000: "stats.computed_at + module status" is the dashboards' signal):
    # every module this run recomputed is stamped, changed or not, and so are the reports
    # that hold one; only the heavy rewrite of unchanged stats is skipped.
    changed_ids = {u["mid"] for u in updates}
    _stamp(session, "carbon_report_modules",
           [mid for mid, _, old in modules if mid not in changed_ids and old], now)
    _stamp(session, "carbon_reports", sorted({rid for _, rid, _ in modules} - changed_reports),
           now)
    if changed_reports:
        per_report: dict[int, list[JsonObject | None]] = {}
        for report_id, st in session.execute(
                select(CarbonReportModule.carbon_report_id, CarbonReportModule.stats)
                .where(CarbonReportModule.carbon_report_id.in_(list(changed_reports)))):
            per_report.setdefault(report_id, []).append(st)
        reports = []
        for rid, sts in per_report.items():
            try:
                reports.append((rid, stats_lib.report_stats(sts, computed_at=now)))
            except OverflowError as exc:  # the unit's modules, each finite, overflow
                raise _not_finite(session, module_type_id, year, [rid], {}, exc) from exc
        _write_stats(session, "carbon_reports", reports, now, set_status=False)
    return AggregateRun(modules=len(modules), modules_changed=len(updates),
                        reports_changed=len(changed_reports),
                        entries=sum(c[0] for c in counts.values()))


def _write_stats(session: Session, table: str, rows: Sequence[tuple[int, Mapping[str, object]]],
                 now: Any, *, set_status: bool) -> None:
    """Write many stats at once (one set-based UPDATE on PostgreSQL: ``db/dialect``);
    ``set_status``: data changed, so any validation is stale (status 1)."""
    if not rows:
        return
    # The time goes to the rows' stats_computed_at column, not into the JSON (migration 0017).
    dialect_of(session).write_stats(session, table,
                                    [(i, stats_lib.stored_form(st)) for i, st in rows], now,
                                    set_status=set_status)


def _stamp(session: Session, table: str, ids: list[int], at: datetime) -> None:
    """Set ``stats_computed_at`` of rows whose numbers did not change (rows never computed
    keep NULL stats: there is nothing to call fresh). A column, not the JSON: stamping the
    576 reports of the 1M bench year took 24-26 ms inside the JSON, 2 ms in the column
    (migration 0017)."""
    if not ids:
        return
    dialect_of(session).stamp_computed_at(session, table, ids, at)


def recalculations_read(session: Session, module_type_id: int, year: int) -> JsonObject:
    """Which recalculations of (module, year) a run about to read the rows will see, stored
    as ``meta.aggregation.read`` in the shape of a plan's ``inputs_read``
    (services/recalc/inputs_read.py): ``upto``, the highest id of the good (FINISHED, not
    ERROR) ones, and ``pending``, the ids below it still active. The run reads the rows of
    every good recalculation with an id up to ``upto`` except the pending ones; one outside
    that set landed after the run read, so the statistics may miss its rows (what the
    reconciler's ``due_aggregations`` asks).

    One statement, so one snapshot, taken before the rows are read: every recalculation it
    counts as finished committed its rows (and swapped its slice in) before the reads. A
    recalculation whose finish joins this job while it runs marks it dirty (it runs again
    and records again); one whose finish saw it still QUEUED (its claim not yet committed)
    and committed after this snapshot is not counted as read, so the reconciler backfills.
    The recalculations' ids decide, not the aggregation's own: a queued aggregation that a
    later recalculation joins keeps its lower id, yet reads it."""
    scope = (Job.job_type == JobType.emission_recalc, Job.module_type_id == module_type_id,
             Job.year == year)
    done = select(func.max(Job.id), literal(True)).where(
        *scope, Job.state == JobState.FINISHED, Job.result != JobResult.ERROR)
    active = select(Job.id, literal(False)).where(*scope, Job.state.in_(ACTIVE_STATES))
    rows = session.execute(union_all(done, active)).all()
    upto = int(next((r[0] for r in rows if r[1]), None) or 0)
    pending = sorted(int(r[0]) for r in rows if not r[1] and r[0] < upto)
    return InputsRead(upto=upto, pending=pending).model_dump(mode="json")


MAX_RERUNS = 5


class AggregationWork:
    """One coalesced aggregation of (module, year); runs once more (up to MAX_RERUNS) while
    requests that arrived during a run marked the job dirty."""

    def __init__(self) -> None:
        self.runs: list[AggregateRun] = []
        self.failures = 0

    def prepare(self, session: Session, job_id: int) -> None:
        # Committed before reading inputs: a request landing from here on reruns us.
        session.execute(update(Job).where(Job.id == job_id).values(dirty=False))

    def work(self, session: Session, job: Job) -> JobOutcome:
        assert job.module_type_id is not None and job.year is not None
        # Before any row is read: what this run covers (the reconciler's freshness test).
        read = recalculations_read(session, job.module_type_id, job.year)
        try:
            last = aggregate_module_year(session, job.module_type_id, job.year)
        except TotalNotFinite as exc:
            # A failed run writes nothing: this session wrote nothing before the run, so its
            # rollback undoes exactly the run's writes. (A savepoint did the same on
            # PostgreSQL, but on SQLite it opened a transaction before the run's reads, and
            # two aggregations of one pipeline then failed to upgrade their read locks at
            # once, "database is locked", until their attempts ran out: `carbon demo` hung.)
            session.rollback()
            # Deterministic: the same rows give the same overflow. The job ends ERROR with
            # the reason (the module's state shows it); ``failed`` tells the reconciler not
            # to re-run it before an input changes.
            self.failures += 1
            return JobOutcome(JobResult.ERROR, f"ERROR: totals not updated: {exc}"[:500],
                              {"aggregation": {"failed": str(exc)}}, {"error": str(exc)})
        self.runs.append(last)
        n = len(self.runs)
        jobs.heartbeat(session, job.id, message=f"Aggregated {last.modules} modules (run {n})")
        return JobOutcome(
            JobResult.SUCCESS,
            # "Aggregated 20 modules of 12 changed reports" read as 20 modules belonging to
            # 12 reports: it was 20 recomputed, some changed, 12 reports rewritten.
            f"Aggregated {last.modules} unit modules: {last.modules_changed} changed,"
            f" {last.reports_changed} reports updated ({n} run{'s' if n > 1 else ''})",
            {"aggregation": {"runs": n, "last": asdict(last), "read": read}},
            {"runs": n, **asdict(last)})

    def again(self, session: Session, job: Job) -> bool:
        session.refresh(job, ["dirty"])
        return bool(job.dirty) and len(self.runs) + self.failures <= MAX_RERUNS

    def follow_ups(self, session: Session, job: Job, outcome: JobOutcome) -> list[int]:
        return []
