"""Undo a reference upload (stations, building rooms or exchange rates): the live set of its
kind as it was just before it, as a new replace-mode upload.

Reference rows keep no history of their values, only the last upload that changed them
(``changed_by_job_id``). The rows upload J changed get their state before J from the
uploads of the kind before J, read back from their stored files, newest first: the first
one whose usable rows name the row gave it its values (live); a ``replace`` upload with
usable rows that neither names nor rejected it had retired it; none: J inserted it. Every
other live row is as it is now (J was the latest upload of the kind, or the revert is
refused). That set, written as a file of the kind, is uploaded in ``replace`` mode, so the
rows J added are retired again and the rows it changed or retired get their values back —
live rows and, once the readers are recalculated, the statistics are those of before J.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain import csv_rows
from carbon_domain.db.enums import JobResult, JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import UploadedFile
from carbon_domain.db.reference_models import BuildingRoom, ExchangeRate, Station
from carbon_domain.errors import ErrorKind
from carbon_domain.services.inputs import reference_sets
from carbon_domain.services.inputs.csv_input import read_csv
from carbon_domain.services.jobs.ingest_report import RowReport
from carbon_domain.services.jobs.job_meta import job_config
from carbon_domain.upload_kinds import UploadKind, UploadMode

Refused = Callable[[ErrorKind, str], Exception]
_MODEL: dict[str, Any] = {UploadKind.stations: Station,
                          UploadKind.building_rooms: BuildingRoom,
                          UploadKind.exchange_rates: ExchangeRate}
_PARSER: dict[str, Callable[[dict[str, str]], Any]] = {
    UploadKind.stations: csv_rows.parse_station_row,
    UploadKind.building_rooms: csv_rows.parse_room_row,
    UploadKind.exchange_rates: csv_rows.parse_rate_row}
_COLUMNS: dict[str, tuple[str, ...]] = {
    UploadKind.stations: ("name", "latitude", "longitude", "country_code"),
    UploadKind.building_rooms: ("building_name", "room_name", "room_type",
                                "room_surface_square_meter"),
    UploadKind.exchange_rates: ("year", "currency", "rate_to_eur")}


def _identity(kind: str, o: Any) -> Any:
    if kind == UploadKind.stations:
        return reference_sets.station_identity(o.name, o.country_code)
    if kind == UploadKind.building_rooms:
        return reference_sets.room_identity(o.building_name, o.room_name)
    return reference_sets.rate_identity(o.year, o.currency)


def _kind_jobs(kind: str) -> Any:
    return select(Job).where(
        Job.job_type == JobType.reference_ingest,
        Job.meta["config"]["kind"].as_string() == kind,
        Job.result.is_(None) | (Job.result != JobResult.ERROR))


class _Upload:
    """A stored reference upload read back: its usable rows by identity, the identities it
    rejected, and whether it retired what it did not name."""

    def __init__(self, session: Session, job: Job, kind: str, refused: Refused) -> None:
        upload = session.get(UploadedFile, job.upload_id) if job.upload_id else None
        if upload is None:
            raise refused(ErrorKind.CONFLICT,
                          f"the file of job {job.id} (an earlier {kind} upload) is no "
                          "longer stored: the state before it cannot be rebuilt")
        header, rows = read_csv(bytes(upload.content))
        acc = RowReport(header, csv_rows.reference_known_columns(kind))
        self.rejected: set[Any] = set()
        self.good: dict[Any, Any] = {}
        for _line, r in acc.parsed(rows, _PARSER[kind], on_reject=lambda row: self.rejected.add(
                reference_sets.raw_identity(kind, row))):
            self.good[reference_sets.parsed_identity(kind, r)] = r
        self.retires = job_config(job.meta).mode != UploadMode.MERGE and bool(self.good)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    return repr(v) if isinstance(v, float) else str(v)


def reference_revert_file(session: Session, job: Job, refused: Refused) -> tuple[bytes, int]:
    """The file restoring the live set of ``job``'s kind to its state just before it, and
    the number of rows ``job`` changed (``refused(kind, message)`` is raised when it
    cannot)."""
    kind = job_config(job.meta).kind
    if kind not in _MODEL:
        raise refused(ErrorKind.INVALID,
                      f"job {job.id} is a units upload: only factor and data entry "
                      "uploads, and reference uploads of stations, building rooms or "
                      "exchange rates, can be reverted")
    later = session.scalars(_kind_jobs(kind).where(Job.id > job.id).order_by(Job.id)
                            .limit(1)).first()
    if later is not None:
        raise refused(ErrorKind.CONFLICT, f"job {later.id} (a later {kind} upload, by "
                           f"{later.created_by or 'unknown'}) changed them after job "
                           f"{job.id}: revert job {later.id} first")
    model = _MODEL[kind]
    stored = list(session.scalars(select(model)))
    touched = {_identity(kind, o): o for o in stored if o.changed_by_job_id == job.id}
    if not touched:
        raise refused(ErrorKind.CONFLICT, f"job {job.id} changed no {kind} row: nothing to revert")
    earlier = session.scalars(_kind_jobs(kind).where(
        Job.id < job.id, Job.state == JobState.FINISHED).order_by(Job.id.desc())).all()
    previous: dict[Any, Any] = {}   # identity → parsed row it had (absent: not live)
    open_keys = set(touched)
    for upload_job in earlier:
        if not open_keys:
            break
        up = _Upload(session, upload_job, kind, refused)
        for key in list(open_keys):
            if key in up.good:
                previous[key] = up.good[key]
                open_keys.discard(key)
            elif up.retires and key not in up.rejected:
                open_keys.discard(key)
    columns = _COLUMNS[kind]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    rows = 0
    for o in stored:
        key = _identity(kind, o)
        if key in touched:
            if key not in previous:
                continue
            values = {c: getattr(o, c) for c in columns}
            values.update({f: getattr(previous[key], f) for f in _FIELDS[kind]})
        elif o.retired_by_job_id is None:
            values = {c: getattr(o, c) for c in columns}
        else:
            continue
        w.writerow([_cell(values[c]) for c in columns])
        rows += 1
    if not rows:
        raise refused(ErrorKind.CONFLICT,
                      f"there were no live {kind} before job {job.id}: a revert would "
                      "have to retire them all, which an upload cannot express")
    return out.getvalue().encode(), len(touched)


_FIELDS: dict[str, tuple[str, ...]] = {UploadKind.stations: ("latitude", "longitude"),
           UploadKind.building_rooms: ("room_type", "room_surface_square_meter"),
           UploadKind.exchange_rates: ("rate_to_eur",)}
