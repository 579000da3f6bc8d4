"""Ingest services: parse a stored upload, validate every row, write in one transaction.

Row problems skip the row and are reported (row number and reason, first 100 kept), and so
are columns the upload kind does not use (``ingest_report``); the result is SUCCESS, WARNING
(rows skipped or columns unused) or ERROR (nothing usable).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
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

__all__ = ["IngestOutcome", "ingest_data_entries", "ingest_factors", "ingest_reference"]

def rows_of(session: Session, job: DataIngestionJob
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
    header, rows = rows_of(session, job)
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
    header, rows = rows_of(session, job)
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
            acc.error(line, "unit_institutional_id is empty" if not key else
                      f"unknown unit {e.unit_institutional_id!r} (no unit with that"
                      f" institutional id has a {year} report; upload units first)")
            continue
        sink.add(target[1], e.det, target[0], json.dumps(e.data, ensure_ascii=False))
    # A module-wide upload is an input of every type of the module (staleness reads it so):
    # all are recalculated, but only the types it loaded are replaced.
    dets = [det.value] if det else [d.value for d in MODULE_DATA_ENTRY_TYPES[module]]
    clears = job_config(job.meta).clears
    if clears and not acc.total:
        return _clear_entries(session, module, year, clears, dets)
    if not sink.count:
        return acc.outcome(0, "entries")
    # Replace this year's CSV entries of the types the file has usable rows of; manual
    # entries are never touched. A type none of whose rows is usable keeps its entries: a
    # file of typos replaces nothing.
    deleted = _delete_csv_entries(session, module, year, sink.dets)
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


def _delete_csv_entries(session: Session, module: ModuleType, year: int,
                        dets: Iterable[int]) -> int:
    """Delete the year's CSV entries of these types (the delete trigger removes their rows),
    under the exclusive (module, year) lock no recalculation chunk reads beside."""
    locks.xact_lock(session, locks.FACTORS_VS_RECALC, locks.module_year_key(module.value, year))
    # (Session.execute is typed as returning Result; a DELETE returns a CursorResult.)
    return int(session.execute(text(
        "DELETE FROM data_entries WHERE year = :y AND source = 'csv'"
        " AND data_entry_type_id IN :dets").bindparams(bindparam("dets", expanding=True)),
        {"y": year, "dets": sorted(dets)}).rowcount)  # type: ignore[attr-defined]


def _clear_entries(session: Session, module: ModuleType, year: int,
                   clears: list[int], dets: list[int]) -> IngestOutcome:
    """The header-only file of a first upload's revert: empty the types it names (their CSV
    entries of the year; manual entries stay). The delete trigger removes their emission
    rows; the recalculation that follows gives the module's statistics without them."""
    deleted = _delete_csv_entries(session, module, year, clears)
    names = ", ".join(DataEntryType(d).name for d in sorted(clears))
    return IngestOutcome(JobResult.SUCCESS, f"Success: {deleted} entries removed ({names},"
                         f" {year}: no earlier upload of this scope to restore)",
                         {"rows": 0, "processed": 0, "skipped": 0, "row_errors": [],
                          "unknown_columns": [], "data_entry_type_ids": [],
                          "replaced": deleted, "cleared_data_entry_type_ids": sorted(clears),
                          "kept_data_entry_type_ids": [d for d in dets if d not in clears]},
                         dets)


def ingest_reference(session: Session, job: DataIngestionJob) -> IngestOutcome:
    """The file is the set of its kind (services/inputs/reference_sets.py): rows are upserted in
    place and, unless ``config.mode == "merge"``, stored rows absent from the file are
    retired. A file with no usable row changes nothing."""
    config = job_config(job.meta)
    kind = config.kind
    merge = config.mode == UploadMode.MERGE
    header, rows = rows_of(session, job)
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
