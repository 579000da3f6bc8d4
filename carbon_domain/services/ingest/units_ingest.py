"""Units uploads: create or update units (shared by every year), then each listed unit's
report for the upload's year with its 8 modules. A unit's institutional id is kept when the
unit is reported in another year (``_moves_across_years``); a unit's parent must be a unit
(``_drop_bad_parents``); rows that cannot land are skipped with their reason, the
rest lands (the job ends WARNING)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain import csv_rows
from carbon_domain.catalog import ModuleType
from carbon_domain.db.enums import JobResult
from carbon_domain.db.models import CarbonReport, CarbonReportModule, DataIngestionJob, Unit
from carbon_domain.services.ingest.ingest import rows_of
from carbon_domain.services.jobs.ingest_report import IngestOutcome, RowReport
from carbon_domain.upload_kinds import UploadKind

__all__ = ["ingest_units"]


def ingest_units(session: Session, job: DataIngestionJob) -> IngestOutcome:
    """Create or update units, then each unit's report for the year with its 8 modules."""
    assert job.year is not None  # the API, CLI and seeding all pass a units upload's year
    year = job.year
    header, rows = rows_of(session, job)
    problem = csv_rows.reference_header_problem(UploadKind.units, header)
    if problem:
        return IngestOutcome(JobResult.ERROR, f"ERROR: {problem}", {"header": header})
    acc = RowReport(header, csv_rows.reference_known_columns(UploadKind.units))
    good: dict[str, csv_rows.UnitRow] = {}
    lines: dict[str, int] = {}
    units = acc.keep_last(((line, u.institutional_code, u)
                           for line, u in acc.parsed(rows, csv_rows.parse_unit_row)),
                          "unit", lambda u: f"unit {u.institutional_code!r}")
    for line, u in units:
        good[u.institutional_code] = u
        lines[u.institutional_code] = line
    # A skipped row can orphan the rows under it, and leave its unit on an id another row
    # takes: check both until neither skips anything more.
    while True:
        count = len(good)
        _drop_bad_parents(session, good, lines, acc)
        _drop_taken_institutional_ids(session, good, lines, acc, year)
        if len(good) == count:
            break
    existing = {u.institutional_code: u for u in session.scalars(
        select(Unit).where(Unit.institutional_code.in_(list(good))))}
    # Units of this file trading institutional ids: free the old ids first so no UPDATE
    # meets the unique constraint half-way.
    moving = [unit for code, unit in existing.items()
              if unit.institutional_id != good[code].institutional_id]
    if moving:
        for moved in moving:
            moved.institutional_id = None
        session.flush()
    created = 0
    for code, u in good.items():
        unit = existing.get(code)
        if unit is None:
            unit = Unit(institutional_code=code)
            session.add(unit)
            created += 1
        unit.institutional_id = u.institutional_id
        unit.name = u.name
        unit.level = u.level
        unit.parent_institutional_code = u.parent_institutional_code
    session.flush()
    unit_ids = [u.id for u in session.scalars(
        select(Unit).where(Unit.institutional_code.in_(list(good))))]
    reports = {r.unit_id: r for r in session.scalars(
        select(CarbonReport).where(CarbonReport.year == year, CarbonReport.unit_id.in_(unit_ids)))}
    new_reports = 0
    for uid in unit_ids:
        if uid not in reports:
            r = CarbonReport(unit_id=uid, year=year)
            session.add(r)
            session.flush()
            session.add_all(CarbonReportModule(carbon_report_id=r.id, module_type_id=m.value,
                                               status=0) for m in ModuleType)
            new_reports += 1
    return acc.outcome(len(good), "units synced",
                       extra=f"{created} new units, {new_reports} new {year} reports")


def _drop_bad_parents(session: Session, good: dict[str, csv_rows.UnitRow],
                      lines: dict[str, int], acc: RowReport) -> None:
    """Skip the rows whose parent is no unit: a unit that is its own parent (or its own
    ancestor through other rows), or a ``parent_institutional_code`` that is neither a row of
    this file that lands (before or after it) nor a stored unit (units are shared by every
    year: a school listed in 2024's file is a parent for 2025's labs). Such a unit landed
    silently, under a parent no read can show (``NOPARENT``). A row whose parent's own row is
    skipped is skipped too, unless that parent is already a stored unit."""
    stored = dict(session.execute(
        select(Unit.institutional_code, Unit.parent_institutional_code)).all())
    while True:
        parent_of = {**stored, **{c: u.parent_institutional_code for c, u in good.items()}}
        bad: dict[str, str] = {}
        for code, u in good.items():
            parent = u.parent_institutional_code
            if parent is None:
                continue
            if parent == code:
                bad[code] = f"parent_institutional_code {parent!r} is the unit itself"
            elif parent not in good and parent not in stored:
                why = "; its own row was skipped" if parent in lines else ""
                bad[code] = (f"parent_institutional_code {parent!r} is no unit (no usable"
                             f" row of this file, no stored unit){why}")
            elif (loop := _ancestry(code, parent_of)) is not None:
                bad[code] = (f"parent_institutional_code {parent!r} makes unit {code!r} its"
                             f" own ancestor ({' → '.join(loop)})")
        if not bad:
            return
        for code in sorted(bad, key=lines.__getitem__):
            acc.error(lines[code], bad[code])
            del good[code]


def _ancestry(code: str, parent_of: dict[str, str | None]) -> list[str] | None:
    """The chain from ``code`` up its parents when it comes back to ``code``, else None."""
    chain, seen, at = [code], {code}, parent_of.get(code)
    while at is not None and at not in seen:
        chain.append(at)
        seen.add(at)
        at = parent_of.get(at)
    return [*chain, code] if at == code else None


def _drop_taken_institutional_ids(session: Session, good: dict[str, csv_rows.UnitRow],
                                  lines: dict[str, int], acc: RowReport, year: int) -> None:
    """``units.institutional_id`` is unique: a row giving an id that an earlier row, or a
    unit not in this file, already holds is a row error rather than a failed upload. So is
    a row that moves the id of a unit reported in another year (``_moves_across_years``)."""
    owner: dict[str, str] = {}
    for code, u in list(good.items()):
        iid = u.institutional_id
        if iid is None:
            continue
        if iid in owner:
            acc.error(lines[code], f"institutional_id {iid!r} is also given to unit"
                                   f" {owner[iid]!r} in this file")
            del good[code]
        else:
            owner[iid] = code
    # A row skipped here leaves its unit on its old id, which another row of the file may
    # be taking over (the next unit shifted up by one): check again until nothing more is
    # skipped, or that row's UPDATE met the unique constraint and failed the whole upload
    # with a database error (a second year's seed with one unit fewer did).
    skipped: set[str] = set()
    while True:
        held = session.execute(select(Unit.institutional_id, Unit.institutional_code).where(
            Unit.institutional_id.in_(list(owner)), Unit.institutional_code.not_in(list(good))
        )).all() if owner else []
        for iid, other in held:
            assert iid is not None  # IN (owner's ids) never matches NULL
            code = owner.pop(iid)
            why = " (its own row was skipped)" if other in skipped else ""
            acc.error(lines[code], f"institutional_id {iid!r} already belongs to unit"
                                   f" {other!r}{why}")
            good.pop(code, None)
            skipped.add(code)
        if held:
            continue  # the taken ids first: their reasons name the unit holding the id
        moved = _moves_across_years(session, good, lines, acc, year)
        if not moved:
            return
        owner = {i: c for i, c in owner.items() if c not in moved}
        skipped |= moved


def _moves_across_years(session: Session, good: dict[str, csv_rows.UnitRow],
                        lines: dict[str, int], acc: RowReport, year: int) -> set[str]:
    """Skip the rows that would give a unit reported in another year a new institutional
    id: units are shared by every year, and that id is what every year's entry files
    (``unit_institutional_id``) and research-facility factors (``researchfacility_id``)
    name the unit by. A 2023 seed of another size renumbered 18 units reported in 2024
    and 2025: their entry files then failed on unknown units and a facility factor was
    refreshed from another unit's emissions (485.5 t → 108.9 t), with every type "up to
    date". Returns the codes skipped (removed from ``good``)."""
    current = dict(session.execute(select(Unit.institutional_code, Unit.institutional_id)
                                   .where(Unit.institutional_code.in_(list(good)))).all())
    moving = [code for code, iid in current.items()
              if iid is not None and iid != good[code].institutional_id]
    if not moving:
        return set()
    years: dict[str, list[int]] = {}
    for code, y in session.execute(
            select(Unit.institutional_code, CarbonReport.year).distinct()
            .join(CarbonReport, CarbonReport.unit_id == Unit.id)
            .where(Unit.institutional_code.in_(moving), CarbonReport.year != year)
            .order_by(CarbonReport.year)):
        years.setdefault(code, []).append(int(y))
    for code, ys in years.items():
        shown = ", ".join(str(y) for y in ys)
        acc.error(lines[code], f"unit {code!r} is {current[code]!r} in its {shown} report"
                               f"{'s' if len(ys) > 1 else ''}, not"
                               f" {good[code].institutional_id!r}: an institutional id names"
                               " its unit in every year's files, so it is kept")
        del good[code]
    return set(years)
