"""What a monitoring rule polls: the (year, module, type) combinations whose statistics have
needed recalculation for longer than a threshold, each with its reasons and since when, and
the types whose last recalculation failed or was aborted (whatever its age).

*Since when* is the finish time of the first input job the last good recalculation did not
read, of any kind the type's staleness reads, reference uploads included (a later upload
does not restart the clock): one that landed after its plan read the inputs
(``inputs_read``: above what it read, or pending then), or, for a recalculation planned
before that record, one with a higher id; for a formula change, which is not a job, the
time the rows were computed; for a failed run, the time it ended. ``stale_since`` answers
it for this report and for the ``carbon_oldest_stale_seconds`` metric alike. The states and
reasons are the ones every other surface shows (status_facts.py, display_state.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.db.base import utcnow
from carbon_domain.services.reads.display_state import decide
from carbon_domain.services.reads.status_facts import Core, cores, facts
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
class StaleReport:
    older_than_seconds: float
    checked_at: datetime
    stale: list[StaleType] = field(default_factory=list)  # needing it longer than the limit
    failed: list[StaleType] = field(default_factory=list)  # last run failed, any age


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
    stale = [c for c in found if c.needs]
    firsts = first_input_after(session, year, [
        (c.combo.module, c.det, c.read.upto if c.read else c.combo.good_recalc or 0)
        for c in stale if c.input_needs])
    return [StaleSince(c, _since(c, briefs, firsts.get((c.combo.module, c.det))))
            for c in stale], briefs


def stale_stats(session: Session, older_than: float, year: int | None = None,
                now: datetime | None = None) -> StaleReport:
    """Types needing recalculation for at least ``older_than`` seconds, and failed types
    (every year with jobs, or one ``year``)."""
    now = now or utcnow()
    out = StaleReport(float(older_than), now)
    years = [year] if year is not None else [int(y) for y in session.scalars(_YEARS)]
    for y in years:
        stale, briefs = stale_since(session, y)
        for found in stale:
            c, since = found.core, found.since
            age = None if since is None else max(0.0, (now - since).total_seconds())
            shown = decide(facts(c, briefs, [], 0))
            row = StaleType(y, c.combo.module, ModuleType(c.combo.module).name, c.det,
                            DataEntryType(c.det).name, shown.state.value, shown.reasons,
                            since, age, c.failed.job_id if c.failed else None)
            if c.failed is not None:
                out.failed.append(row)
            elif age is None or age >= older_than:
                out.stale.append(row)
    return out


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
