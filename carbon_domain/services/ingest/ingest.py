"""Ingest services: parse a stored upload, validate every row, write in one transaction.

Row problems skip the row and are reported (row number and reason, first 100 kept), and so
are columns the upload kind does not use (``ingest_report``); the result is SUCCESS, WARNING
(rows skipped or columns unused) or ERROR (nothing usable).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from carbon_domain import csv_rows
from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.db import locks
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.enums import JobResult
from carbon_domain.db.models import CarbonReport, CarbonReportModule, DataIngestionJob, Unit
from carbon_domain.services.inputs import reference_sets
from carbon_domain.services.inputs.csv_input import read_csv
from carbon_domain.services.inputs.factors import Identity, write_factor_set
from carbon_domain.services.inputs.slices import load_reference_data
from carbon_domain.services.inputs.uploads import read_upload
from carbon_domain.services.jobs.ingest_report import IngestOutcome, RowReport
from carbon_domain.services.jobs.job_meta import job_config
from carbon_domain.upload_kinds import UploadKind, UploadMode

__all__ = ["IngestOutcome", "ingest_data_entries", "ingest_factors", "ingest_reference",
           "ingest_units"]

def _rows(session: Session, job: DataIngestionJob
          ) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    if job.upload_id is None:
        raise ValueError(f"job {job.id} has no upload")
    return read_csv(read_upload(session, job.upload_id))


def _det(job: DataIngestionJob) -> DataEntryType | None:
    return DataEntryType(job.data_entry_type_id) if job.data_entry_type_id else None


def ingest_factors(session: Session, job: DataIngestionJob) -> IngestOutcome:
    """The file is the factor set of each type it covers (the job's type, or every type with
    a usable row in a module-wide file): its factors are upserted in place, the scope's
    others retired. ``config.mode == "merge"`` only upserts (a partial file)."""
    # Every caller of start_upload passes the module and year of a factor upload.
    assert job.module_type_id is not None and job.year is not None
    module = ModuleType(job.module_type_id)
    det = _det(job)
    config = job_config(job.meta)
    merge = config.mode == UploadMode.MERGE
    header, rows = _rows(session, job)
    problem = csv_rows.factor_header_problem(module, det, header)
    if problem:
        return IngestOutcome(JobResult.ERROR, f"ERROR: {problem}", {"header": header})
    acc = RowReport(header, csv_rows.factor_known_columns(module, det))
    parsed: list[tuple[int, int, dict[str, Any], dict[str, Any]]] = []
    rejected: set[Identity] = set()

    def reject(row: dict[str, str]) -> None:
        identity = csv_rows.factor_identity(module, det, row)
        if identity is not None:
            rejected.add(identity)

    found = [(line, (f.det, f.emission_type_id, csv_rows.classification_key(f.classification)), f)
             for line, f in acc.parsed(rows, lambda r: csv_rows.parse_factor_row(module, det, r),
                                       on_reject=reject)]
    for _line, f in acc.keep_last(found, "factor", _factor_text):
        parsed.append((f.det, f.emission_type_id, f.classification, f.values))
    dets = sorted({p[0] for p in parsed})
    if not parsed:
        return acc.outcome(0, "factors", meta={"mode": UploadMode.of(merge).value})
    # Exclusive: no recalculation chunk of this module/year reads factors meanwhile.
    locks.xact_lock(session, locks.FACTORS_VS_RECALC,
                    locks.module_year_key(module.value, job.year))
    # A type none of whose rows is usable is left alone: a file of typos retires nothing.
    written = write_factor_set(session, year=job.year, job_id=job.id, rows=parsed,
                               scope_dets=None if merge else dets, keep=rejected)
    recalc = [det.value] if det else [d.value for d in MODULE_DATA_ENTRY_TYPES[module]]
    if not config.recalculate:
        recalc = []
    summary = written.summary() + (" (merge: nothing retired)" if merge else "")
    return acc.outcome(len(parsed), "factors", summary=summary, recalc=recalc, meta={
        "data_entry_type_ids": dets, "mode": UploadMode.of(merge).value,
        **written.meta()})


def _factor_text(f: csv_rows.ParsedFactor) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in f.classification.items() if v is not None)
    return f"{DataEntryType(f.det).name} factor {shown or '(no classification)'}"


def _unit_modules(session: Session, module: ModuleType, year: int) -> dict[str, tuple[int, int]]:
    """unit institutional_id → (unit id, carbon_report_module id) for this module and year."""
    q = (select(Unit.institutional_id, Unit.institutional_code, Unit.id, CarbonReportModule.id)
         .join(CarbonReport, CarbonReport.unit_id == Unit.id)
         .join(CarbonReportModule, CarbonReportModule.carbon_report_id == CarbonReport.id)
         .where(CarbonReport.year == year, CarbonReportModule.module_type_id == module.value))
    out: dict[str, tuple[int, int]] = {}
    for inst_id, code, unit_id, crm_id in session.execute(q):
        if code:
            out.setdefault(str(code).strip().lower(), (unit_id, crm_id))
        if inst_id:
            out[str(inst_id).strip().lower()] = (unit_id, crm_id)
    return out


def ingest_data_entries(session: Session, job: DataIngestionJob) -> IngestOutcome:
    # Every caller of start_upload passes the module and year of a data entry upload.
    assert job.module_type_id is not None and job.year is not None
    module = ModuleType(job.module_type_id)
    det = _det(job)
    year = job.year
    header, rows = _rows(session, job)
    problem = csv_rows.entry_header_problem(module, det, header)
    if problem:
        return IngestOutcome(JobResult.ERROR, f"ERROR: {problem}", {"header": header})
    refs = load_reference_data(session)
    units = _unit_modules(session, module, year)
    acc = RowReport(header, csv_rows.entry_known_columns(module, det))
    sink = dialect_of(session).entry_spool(year, job.id)
    for line, e in acc.parsed(rows, lambda r: csv_rows.parse_entry_row(module, det, r,
                                                                       refs=refs)):
        key = (e.unit_institutional_id or "").strip().lower()
        target = units.get(key)
        if target is None:
            acc.error(line, f"unknown unit {e.unit_institutional_id!r} (no unit with that"
                            f" institutional id has a {year} report; upload units first)")
            continue
        sink.add(target[1], e.det, target[0], json.dumps(e.data, ensure_ascii=False))
    # A module-wide upload is an input of every type of the module (staleness reads it so):
    # all are recalculated, but only the types it loaded are replaced.
    dets = [det.value] if det else [d.value for d in MODULE_DATA_ENTRY_TYPES[module]]
    clears = job_config(job.meta).clears
    if clears and not acc.total:
        return _clear_entries(session, acc, module, year, clears, dets)
    if not sink.count:
        return acc.outcome(0, "entries")
    locks.xact_lock(session, locks.FACTORS_VS_RECALC, locks.module_year_key(module.value, year))
    # Replace this year's CSV entries of the types the file has usable rows of; manual
    # entries are never touched. A type none of whose rows is usable keeps its entries: a
    # file of typos replaces nothing.
    # (Session.execute is typed as returning Result; a DELETE returns a CursorResult.)
    deleted = session.execute(text(
        "DELETE FROM data_entries WHERE year = :y AND source = 'csv'"
        " AND data_entry_type_id IN :dets").bindparams(bindparam("dets", expanding=True)),
        {"y": year, "dets": sorted(sink.dets)}).rowcount  # type: ignore[attr-defined]
    sink.write(session)
    kept = [d for d in dets if d not in sink.dets]
    extra = f"{deleted} previous entries replaced"
    if kept:
        extra += (f"; {', '.join(DataEntryType(d).name for d in kept)} kept as they were"
                  " (no usable row in the file)")
    return acc.outcome(sink.count, "entries loaded", extra=extra,
                       meta={"data_entry_type_ids": sorted(sink.dets), "replaced": deleted,
                             "kept_data_entry_type_ids": kept},
                       recalc=dets)


def _clear_entries(session: Session, acc: RowReport, module: ModuleType, year: int,
                   clears: list[int], dets: list[int]) -> IngestOutcome:
    """The header-only file of a first upload's revert: empty the types it names (their CSV
    entries of the year; manual entries stay). The delete trigger removes their emission
    rows; the recalculation that follows gives the module's statistics without them."""
    locks.xact_lock(session, locks.FACTORS_VS_RECALC, locks.module_year_key(module.value, year))
    deleted = session.execute(text(
        "DELETE FROM data_entries WHERE year = :y AND source = 'csv'"
        " AND data_entry_type_id IN :dets").bindparams(bindparam("dets", expanding=True)),
        {"y": year, "dets": sorted(clears)}).rowcount  # type: ignore[attr-defined]
    names = ", ".join(DataEntryType(d).name for d in sorted(clears))
    return IngestOutcome(JobResult.SUCCESS, f"Success: {deleted} entries removed ({names},"
                         f" {year}: no earlier upload of this scope to restore)",
                         {"rows": 0, "processed": 0, "skipped": 0, "row_errors": [],
                          "unknown_columns": [], "data_entry_type_ids": [],
                          "replaced": deleted, "cleared_data_entry_type_ids": sorted(clears),
                          "kept_data_entry_type_ids": [d for d in dets if d not in clears]},
                         dets)


def ingest_units(session: Session, job: DataIngestionJob) -> IngestOutcome:
    """Create or update units, then each unit's report for the year with its 8 modules."""
    assert job.year is not None  # the API, CLI and seeding all pass a units upload's year
    year = job.year
    header, rows = _rows(session, job)
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
    _drop_taken_institutional_ids(session, good, lines, acc, year)
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


def ingest_reference(session: Session, job: DataIngestionJob) -> IngestOutcome:
    """The file is the set of its kind (services/inputs/reference_sets.py): rows are upserted in
    place and, unless ``config.mode == "merge"``, stored rows absent from the file are
    retired. A file with no usable row changes nothing."""
    config = job_config(job.meta)
    kind = config.kind
    merge = config.mode == UploadMode.MERGE
    header, rows = _rows(session, job)
    problem = csv_rows.reference_header_problem(kind, header)
    if problem:
        return IngestOutcome(JobResult.ERROR, f"ERROR: {problem}", {"header": header})
    assert kind is not None  # a missing kind is a header problem above
    parser = {UploadKind.stations: csv_rows.parse_station_row,
              UploadKind.building_rooms: csv_rows.parse_room_row,
              UploadKind.exchange_rates: csv_rows.parse_rate_row}[UploadKind(kind)]
    acc = RowReport(header, csv_rows.reference_known_columns(kind))
    good: dict[Any, Any] = {}
    rejected: set[Any] = set()

    def reject(row: dict[str, str]) -> None:
        rejected.add(reference_sets.raw_identity(kind, row))

    found = ((line, reference_sets.parsed_identity(kind, r), r)
             for line, r in acc.parsed(rows, parser, on_reject=reject))
    for _line, r in acc.keep_last(found, _REFERENCE_ROW[UploadKind(kind)],
                                  lambda r: _reference_text(kind, r)):
        good[reference_sets.parsed_identity(kind, r)] = r
    mode = {"mode": UploadMode.of(merge).value}
    if not good:
        return acc.outcome(0, f"{kind} rows", meta=mode)
    written = reference_sets.write_reference_set(session, kind, list(good.values()),
                                                 job_id=job.id, merge=merge, keep=rejected)
    return acc.outcome(len(good), f"{kind} rows", summary=written.summary(kind, merge),
                       meta={**mode, **written.meta()})


_REFERENCE_ROW = {UploadKind.stations: "station", UploadKind.building_rooms: "room",
                  UploadKind.exchange_rates: "rate"}


def _reference_text(kind: str, r: Any) -> str:
    """How the operator names a reference row's identity (station, room, rate)."""
    if kind == UploadKind.stations:
        return f"station {r.name!r} ({r.country_code})"
    if kind == UploadKind.building_rooms:
        return f"room {r.room_name!r} of building {r.building_name!r}"
    return f"rate of {r.currency.upper()} for {r.year}"
