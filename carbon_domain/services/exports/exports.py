"""CSV exports of results (from the stats) and details (one line per emission row).

Both are generators of text chunks taking a Session, so the API streams them, the CLI
writes them to a file and the console's download buttons can reuse them:

- ``results_csv(session, year, unit_code=None)`` — ``results.csv``: one line per unit ×
  module × stored emission type, the numbers of the stats JSON (exact to the gram).
- ``data_csv(session, det, year, progress=None)`` — ``<type>_data.csv``: one line per
  emission row, plus one per entry without a row (with the reason).

Memory is constant whatever the size: entries are read in batches of ``BATCH_ENTRIES``
(id ranges of the slice index), and only one batch's text exists at a time (API peak RSS
growth 28 MB over 805k lines, bench/exports.py). On PostgreSQL each batch is written by
``COPY … TO STDOUT (FORMAT csv)`` (``export_sql``; 2–5× the rate of building the lines in
Python); elsewhere (SQLite) the same columns are written by ``csv``. A test checks that the
two agree cell by cell.

Cells are spreadsheet-safe (OWASP CSV injection): a text cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return gets a leading ``'``. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_OF, DataEntryType, ModuleType
from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.csv_rows.schemas import ENTRY_SCHEMAS
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType
from carbon_domain.db.models import CarbonReport, CarbonReportModule, DataEntry, Factor, Unit
from carbon_domain.db.models import DataEntryEmission as Emission
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.emission_types import SCOPE_OF, EmissionType
from carbon_domain.errors import Conflict, NotFound
from carbon_domain.json_types import JsonObject
from carbon_domain.services.exports import export_sql
from carbon_domain.services.reads.drilldown import reasons_for
from carbon_domain.stats import computed_at_text

# Entries per COPY: members have ~24 rows each, so a batch is up to ~24k lines (~6 MB).
BATCH_ENTRIES = 1_000
CHUNK_CHARS = 512 * 1024  # text handed to the response at a time
EOL = "\n"  # what COPY writes; every CSV reader accepts it
RESULTS_COLUMNS = ("unit_institutional_code", "unit_name", "module_type_id", "module_name",
                   "emission_type_id", "emission_type_path", "scope", "kg_co2eq", "computed_at")
ROW_COLUMNS = ("emission_type_id", "emission_type_path", "scope", "factor_id",
               "factor_classification", "kg_co2eq", "reason_kind", "reason")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


class ExportBlocked(Conflict):
    """A recalculation or aggregation of the export's scope is active."""


class ExportNotFound(NotFound):
    """Unknown year or unit."""


def safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet will not evaluate; numbers and None unchanged."""
    if isinstance(value, str) and value.startswith(_DANGEROUS):
        return "'" + value
    return value


def input_columns(det: int) -> list[str]:
    """The entry's columns as uploaded, in the type's schema order, then the common ones
    (the ``kg_co2eq`` override column is renamed so it cannot be taken for the result)."""
    return [c.name for c in ENTRY_SCHEMAS[int(det)].cols] + ["note", "kg_co2eq_override"]


def data_columns(det: int) -> list[str]:
    return ["unit_institutional_code", "unit_institutional_id", "unit_name", "data_entry_id",
            *input_columns(det), *ROW_COLUMNS]


def data_filename(det: int) -> str:
    return f"{DataEntryType(det).name}_data.csv"


# -- scope checks -------------------------------------------------------------------------

def check_year(session: Session, year: int, unit_code: str | None = None) -> None:
    """ExportNotFound unless the year has reports (and the unit exists and has one)."""
    q = select(func.count()).select_from(CarbonReport).where(CarbonReport.year == year)
    if unit_code is not None:
        uid = session.scalar(select(Unit.id).where(Unit.institutional_code == unit_code))
        if uid is None:
            raise ExportNotFound(f"unit {unit_code!r} not found")
        if not session.scalar(q.where(CarbonReport.unit_id == uid)):
            raise ExportNotFound(f"unit {unit_code!r} has no carbon report for {year}")
    elif not session.scalar(q):
        raise ExportNotFound(f"no carbon reports for year {year}: nothing to export; upload "
                             f"the units for {year} first (they make its reports), then "
                             f"factors, then data entries")


@dataclass(frozen=True, slots=True)
class ActiveJob:
    id: int
    job_type: JobType
    module_type_id: int | None
    data_entry_type_id: int | None
    state: JobState


def active_jobs(session: Session, year: int, det: int | None = None) -> list[ActiveJob]:
    """Active recalculations (and, for results, aggregations) of the export's scope."""
    conds: list[Any] = [Job.year == year, Job.state.in_(ACTIVE_STATES)]
    if det is None:
        conds.append(Job.job_type.in_((JobType.emission_recalc, JobType.module_emission_recalc,
                                       JobType.aggregation)))
    else:
        module = MODULE_OF[DataEntryType(det)].value
        conds += [Job.module_type_id == module, Job.job_type.in_(
            (JobType.emission_recalc, JobType.module_emission_recalc)),
            (Job.data_entry_type_id == det) | Job.data_entry_type_id.is_(None)]
    return [ActiveJob(r.id, r.job_type, r.module_type_id, r.data_entry_type_id, r.state)
            for r in session.execute(select(Job.id, Job.job_type, Job.module_type_id,
                                            Job.data_entry_type_id, Job.state)
                                     .where(*conds).order_by(Job.id))]


def partly_rewritten(session: Session, year: int, det: int | None = None
                     ) -> list[tuple[int, str]]:
    """Types of the export's scope whose last recalculation stopped after rewriting part of
    their rows in place ((type, where it stopped)): their rows mix two computations, and
    the statistics, never re-aggregated, sum neither."""
    from carbon_domain.services.reads.status_facts import cores  # noqa: PLC0415

    modules = None if det is None else [MODULE_OF[DataEntryType(det)].value]
    found, _briefs = cores(session, year, modules)
    return [(c.det, c.failed.text) for c in found
            if c.failed is not None and c.failed.partly_rewritten
            and (det is None or c.det == det)]


def ensure_not_running(session: Session, year: int, det: int | None = None) -> None:
    """Refuse an export whose numbers would mix two computations: a recalculation (or, for
    results, an aggregation) of its scope is active, or one stopped after rewriting part of
    its rows (an aborted incremental run: its rows are half new, its totals old)."""
    mixed = partly_rewritten(session, year, det)
    if mixed:
        d, text = mixed[0]
        more = f" (and {len(mixed) - 1} more type(s))" if len(mixed) > 1 else ""
        raise ExportBlocked(
            f"{DataEntryType(d).name} {year}: {text}{more}: the export would mix old and new"
            " numbers; recalculate it first, or export as is with allow_stale=true"
            " (CLI: --allow-stale)")
    jobs = active_jobs(session, year, det)
    if jobs:
        j = jobs[0]
        what = "an aggregation" if j.job_type == JobType.aggregation else "a recalculation"
        scope = f"{DataEntryType(det).name} {year}" if det is not None else f"year {year}"
        more = f" (and {len(jobs) - 1} more)" if len(jobs) > 1 else ""
        raise ExportBlocked(
            f"{what} of {scope} is active (job {j.id}, {j.state}){more}: the export"
            " would mix old and new numbers; retry when it has finished, or export as is"
            " with allow_stale=true (CLI: --allow-stale)")


def last_recalculation_job_id(session: Session, year: int, det: int | None = None
                              ) -> int | None:
    """The newest finished, non-ERROR recalculation the exported numbers reflect."""
    conds = [Job.job_type == JobType.emission_recalc, Job.year == year,
             Job.state == JobState.FINISHED, Job.result != JobResult.ERROR]
    if det is not None:
        conds.append(Job.data_entry_type_id == det)
    found = session.scalar(select(func.max(Job.id)).where(*conds))
    return int(found) if found is not None else None


def snapshot(session: Session) -> None:
    """One consistent snapshot for the whole export (PostgreSQL; call before any query)."""
    dialect_of(session).snapshot(session)


class _Lines:
    """csv.writer into a reusable buffer: ``lines(rows)`` returns their text."""

    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.w = csv.writer(self.buf, lineterminator=EOL)

    def lines(self, rows: list[Any]) -> str:
        self.buf.seek(0)
        self.buf.truncate()
        self.w.writerows(rows)
        return self.buf.getvalue()


# -- results.csv --------------------------------------------------------------------------

def results_rows(session: Session, year: int, unit_code: str | None = None
                 ) -> Iterator[tuple[Any, ...]]:
    """One tuple per unit × module × stored emission type, from the stats JSON."""
    q = (select(Unit.institutional_code, Unit.name, CarbonReportModule.module_type_id,
                CarbonReportModule.stats, CarbonReportModule.stats_computed_at)
         .join(CarbonReport, CarbonReport.unit_id == Unit.id)
         .join(CarbonReportModule, CarbonReportModule.carbon_report_id == CarbonReport.id)
         .where(CarbonReport.year == year)
         .order_by(Unit.institutional_code, CarbonReportModule.module_type_id)
         .execution_options(yield_per=1_000))
    if unit_code is not None:
        q = q.where(Unit.institutional_code == unit_code)
    for code, name, module, stats, computed_at in session.execute(q):
        st = json.loads(stats) if isinstance(stats, str) else (stats or {})
        at = computed_at_text(computed_at)
        by_type = st.get("by_emission_type") or {}
        for key in sorted(by_type, key=int):
            et = int(key)
            yield (safe_cell(code), safe_cell(name), module, ModuleType(module).name, et,
                   EmissionType(et).path, SCOPE_OF.get(et), by_type[key], at)


def results_csv(session: Session, year: int, unit_code: str | None = None) -> Iterator[str]:
    out = _Lines()
    yield out.lines([RESULTS_COLUMNS])
    batch: list[tuple[Any, ...]] = []
    for row in results_rows(session, year, unit_code):
        batch.append(row)
        if len(batch) >= 5_000:
            yield out.lines(batch)
            batch.clear()
    if batch:
        yield out.lines(batch)


# -- <type>_data.csv ----------------------------------------------------------------------

def count_entries(session: Session, det: int, year: int) -> int:
    return int(session.scalar(select(func.count()).select_from(DataEntry).where(
        DataEntry.data_entry_type_id == det, DataEntry.year == year)) or 0)


def data_csv(session: Session, det: int, year: int,
             progress: Callable[[int], None] | None = None, *, fast: bool | None = None
             ) -> Iterator[str]:
    """The detailed export of one type and year; ``progress(entries done)`` after each
    batch. ``fast`` (default: on PostgreSQL) has the database write the CSV (COPY)."""
    det = int(det)
    if fast is None:
        fast = dialect_of(session).copy_csv
    out = _Lines()
    yield out.lines([data_columns(det)])

    def reasons(entries: list[tuple[int, JsonObject]]) -> dict[int, tuple[str, str]]:
        return reasons_for(session, det, year, entries)  # the engine, on these entries only

    batches = (export_sql.batches(session, det, year, BATCH_ENTRIES, reasons) if fast
               else _python_batches(session, det, year, out, reasons))
    done = 0
    for entries, text in batches:
        for i in range(0, len(text), CHUNK_CHARS):
            yield text[i:i + CHUNK_CHARS]
        done += entries
        if progress is not None:
            progress(done)


def _python_batches(session: Session, det: int, year: int, out: _Lines,
                    reasons: Callable[[list[tuple[int, JsonObject]]],
                                      dict[int, tuple[str, str]]]
                    ) -> Iterator[tuple[int, str]]:
    """The same lines as ``export_sql.batches``, written by ``csv`` (any database)."""
    units = {r.id: (safe_cell(r.institutional_code), safe_cell(r.institutional_id),
                    safe_cell(r.name)) for r in session.execute(
        select(Unit.id, Unit.institutional_code, Unit.institutional_id, Unit.name))}
    factors = dict(session.execute(select(Factor.id, Factor.classification_key).where(
        Factor.data_entry_type_id == det, Factor.year == year)).all())
    keys = [*input_columns(det)[:-1], OVERRIDE_KEY]
    after = 0
    while True:
        entries = session.execute(
            select(DataEntry.id, DataEntry.unit_id, DataEntry.data)
            .where(DataEntry.data_entry_type_id == det, DataEntry.year == year,
                   DataEntry.id > after).order_by(DataEntry.id).limit(BATCH_ENTRIES)).all()
        if not entries:
            return
        after = entries[-1].id
        rows: dict[int, list[tuple[Any, ...]]] = {}
        for r in session.execute(
                select(Emission.data_entry_id, Emission.emission_type_id, Emission.scope,
                       Emission.primary_factor_id, Emission.kg_co2eq)
                .where(Emission.data_entry_id.in_([e.id for e in entries]))
                .order_by(Emission.data_entry_id, Emission.id)):
            rows.setdefault(r[0], []).append(tuple(r[1:]))
        lines: list[list[Any]] = []
        no_row = [(eid, _json(raw)) for eid, _u, raw in entries if not rows.get(eid)]
        why = reasons(no_row) if no_row else {}
        for eid, unit_id, raw in entries:
            data = _json(raw)
            cells = [*units.get(unit_id, (None, None, None)), eid,
                     *(safe_cell(data.get(k)) for k in keys)]
            mine = rows.get(eid)
            if not mine:
                lines.append([*cells, *[None] * (len(ROW_COLUMNS) - 2),
                              *(safe_cell(x) for x in why[eid])])
                continue
            lines.extend([*cells, et, EmissionType(et).path, scope, fid,
                          factors.get(fid) if fid is not None else None, kg, None, None]
                         for et, scope, fid, kg in mine)
        yield len(entries), out.lines(lines)


def _json(raw: Any) -> JsonObject:
    value: JsonObject = json.loads(raw) if isinstance(raw, str) else raw
    return value
