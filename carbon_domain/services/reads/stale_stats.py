"""What a monitoring rule polls: the (year, module, type) combinations whose statistics have
needed recalculation for longer than a threshold, each with its reasons and since when, the
types whose last recalculation failed or was aborted, and the modules whose last aggregation
failed ("✗ totals not updated": their totals no longer sum their rows), whatever their age.

*Since when* is the finish time of the first input job the last good recalculation did not
read, of any kind the type's staleness reads, reference uploads included (a later upload
does not restart the clock): one that landed after its plan read the inputs
(``inputs_read``: above what it read, or pending then), or, for a recalculation planned
before that record, one with a higher id; for a formula change, which is not a job, the
time the rows were computed; for a failed run, the time it ended. ``stale_since`` answers
it for this report and for the ``carbon_oldest_stale_seconds`` metric alike. The states and
reasons are the ones every other surface shows (status_facts.py, display_state.py): a
module is listed when its one state (``status_facts.module_display``, the same as the
console's card, the API's and ``carbon status``) is "✗ totals not updated". A type with
no entry, no emission row and no finished recalculation (factors alone) is not stale, here
as everywhere (``status_facts.Core.empty``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.db.base import utcnow
from carbon_domain.services.reads.display_state import AGGREGATION_FAILED, decide
from carbon_domain.services.reads.status_facts import Core, cores, facts, module_display
from carbon_domain.services.reads.status_probes import JobBrief, first_input_after

# A loose index scan over ix_jobs_combo (year first): one probe per distinct year instead
# of reading every job's year.
_YEARS = text(
    "WITH RECURSIVE y AS (SELECT min(year) AS year FROM data_ingestion_jobs"
    " WHERE year IS NOT NULL UNION ALL SELECT (SELECT min(j.year) FROM data_ingestion_jobs j"
    " WHERE j.year > y.year) FROM y WHERE y.year IS NOT NULL)"
    " SELECT year FROM y WHERE year IS NOT NULL")


@dataclass(slots=True)
class StaleType:
    year: int
    module_type_id: int
    module_name: str
    data_entry_type_id: int
    data_entry_type_name: str
    state: str  # display state: needs_recalculation | failed | recalculating
    reasons: list[str]
    since: datetime | None
    stale_seconds: float | None
    last_failed_job_id: int | None = None  # set for types whose last run failed or aborted


@dataclass(slots=True)
class FailedModule:
    """A module whose last aggregation failed: its totals were not updated."""

    year: int
    module_type_id: int
    module_name: str
    state: str  # the module's display state: failed
    state_label: str  # its badge: "✗ totals not updated"
    reasons: list[str]  # why: "aggregation #41 failed: the purchase total of unit Lab A …"
    since: datetime | None  # when that aggregation ended
    stale_seconds: float | None
    last_failed_job_id: int | None  # the aggregation


@dataclass(slots=True)
class StaleReport:
    older_than_seconds: float
    checked_at: datetime
    stale: list[StaleType] = field(default_factory=list)  # needing it longer than the limit
    failed: list[StaleType] = field(default_factory=list)  # last run failed, any age
    failed_modules: list[FailedModule] = field(default_factory=list)  # totals not updated


@dataclass(frozen=True, slots=True)
class StaleSince:
    """A type that needs recalculation (or whose last run failed) and since when."""

    core: Core
    since: datetime | None


def stale_since(session: Session, year: int) -> tuple[list[StaleSince], dict[int, JobBrief]]:
    """Every type of ``year`` that needs recalculation, with since when: the one answer of
    both monitoring surfaces (this report and the ``carbon_oldest_stale_seconds`` metric),
    and the briefs of the jobs its facts name."""
    found, briefs = cores(session, year, None)
    return _stale_since(session, year, found, briefs), briefs


def _stale_since(session: Session, year: int, found: list[Core], briefs: dict[int, JobBrief]
                 ) -> list[StaleSince]:
    stale = [c for c in found if c.needs]
    firsts = first_input_after(session, year, [
        (c.combo.module, c.det, c.read.upto if c.read else c.combo.good_recalc or 0)
        for c in stale if c.input_needs])
    return [StaleSince(c, _since(c, briefs, firsts.get((c.combo.module, c.det))))
            for c in stale]


def stale_stats(session: Session, older_than: float, year: int | None = None,
                now: datetime | None = None) -> StaleReport:
    """Types needing recalculation for at least ``older_than`` seconds, failed types and
    modules whose totals were not updated (every year with jobs, or one ``year``)."""
    now = now or utcnow()
    out = StaleReport(float(older_than), now)
    years = [year] if year is not None else [int(y) for y in session.scalars(_YEARS)]
    for y in years:
        found, briefs = cores(session, y, None)
        for stale in _stale_since(session, y, found, briefs):
            c, since = stale.core, stale.since
            age = _age(now, since)
            shown = decide(facts(c, briefs, [], 0))
            row = StaleType(y, c.combo.module, ModuleType(c.combo.module).name, c.det,
                            DataEntryType(c.det).name, shown.state.value, shown.reasons,
                            since, age, c.failed.job_id if c.failed else None)
            if c.failed is not None:
                out.failed.append(row)
            elif age is None or age >= older_than:
                out.stale.append(row)
        out.failed_modules += _failed_modules(y, found, briefs, now)
    return out


def _failed_modules(year: int, found: list[Core], briefs: dict[int, JobBrief], now: datetime
                    ) -> list[FailedModule]:
    """The modules whose one state is "✗ totals not updated", with its reason."""
    out = []
    for module in ModuleType:
        mine = [c for c in found if c.combo.module == module.value]
        if not mine:
            continue
        # Only "recalculating" can outrank a failed aggregation, and what is missing never
        # decides it, so the types' states need no completeness read here.
        md, _, _ = module_display(mine, briefs, [decide(facts(c, briefs, [], 0)).state
                                                 for c in mine])
        if md.label != AGGREGATION_FAILED:
            continue
        agg = briefs.get(mine[0].module_combo.finished_aggregation or 0)
        since = agg.finished_at if agg is not None else None
        out.append(FailedModule(year, module.value, module.name, md.state.value, md.label,
                                [md.detail] if md.detail else [], since, _age(now, since),
                                agg.id if agg is not None else None))
    return out


def _age(now: datetime, since: datetime | None) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


def _since(c: Core, briefs: dict[int, JobBrief], first: tuple[int, datetime | None] | None
           ) -> datetime | None:
    times: list[datetime] = []
    if c.failed is not None:
        fin = briefs.get(c.failed.job_id)
        if fin is not None and fin.finished_at is not None:
            times.append(fin.finished_at)
    if c.input_needs and first is not None and first[1] is not None:
        times.append(first[1])
    if c.input_needs:  # inputs pending when the last good run read, landed since
        late = [briefs[i] for i in c.late if i in briefs]
        times += [b.finished_at for b in late if b.finished_at is not None]
    if c.formula_reason:
        good = briefs.get(c.combo.good_recalc or 0)
        if good is not None and good.finished_at is not None:
            times.append(good.finished_at)
    return min(times) if times else None
