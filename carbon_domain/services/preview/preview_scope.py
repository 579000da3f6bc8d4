"""What a preview of each upload kind measures, and the inputs its figures depend on.

- ``factors`` (per module and year): the types the upload would recalculate — the route's
  type, or every type of the module — in the upload's year; entries unchanged, factors as
  the file leaves them.
- ``data-entries`` (per module and year): the same types; their entries are read before the
  ingest replaces them, and computed after it.
- a reference kind (``stations``, ``building-rooms``, ``exchange-rates``: neither module nor
  year): the types whose formulas read the kind, in every year the upload changes a number
  of (``affected_years``; stations and rooms: every year with entries), computed with the
  reference rows the file leaves.

Reference rows are read here without the worker's cache (services/inputs/slices.py): the
rows a preview sees are never committed, so they must never be cached as if they were.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, or_, select, text
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, MODULE_OF, DataEntryType, ModuleType
from carbon_domain.db.enums import ACTIVE_STATES, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.reference_models import BuildingRoom, ExchangeRate, Station
from carbon_domain.matching import FactorRecord
from carbon_domain.reference import READERS, ReferenceData
from carbon_domain.services.inputs.factors import load_factor_records
from carbon_domain.services.inputs.slices import build_index
from carbon_domain.services.jobs.job_meta import job_config
from carbon_domain.services.recalc.affected import plan_scope
from carbon_domain.upload_kinds import YEARLESS_KINDS, UploadKind

FACTORS, ENTRIES = UploadKind.factors.value, UploadKind.data_entries.value
PREVIEW_KINDS = (FACTORS, ENTRIES, *(k.value for k in YEARLESS_KINDS))
Slice = tuple[int, int]  # data entry type, year


def kind_of(job: Job) -> str:
    """The upload kind a preview job previews (previews from before the kind was recorded
    are of factor files)."""
    return job_config(job.meta).kind or FACTORS


def is_reference(kind: str) -> bool:
    return kind in (k.value for k in YEARLESS_KINDS)


def reader_modules(kind: str) -> list[int]:
    return sorted({MODULE_OF[DataEntryType(d)].value for d in READERS[kind]})


def input_jobs(kind: str, module: int, year: int) -> Any:
    """The input jobs the figures of a preview depend on: uploads of factors and entries of
    its module and year (for a reference kind: of every module whose types read it, any
    year), every reference upload and the units of the year."""
    if is_reference(kind):
        own = (Job.job_type.in_((JobType.factor_ingest, JobType.csv_ingest))
               & Job.module_type_id.in_(reader_modules(kind)))
        return or_(own, Job.job_type.in_((JobType.reference_ingest, JobType.unit_sync)))
    return or_((Job.job_type.in_((JobType.factor_ingest, JobType.csv_ingest))
                & (Job.module_type_id == module) & (Job.year == year)),
               Job.job_type == JobType.reference_ingest,
               (Job.job_type == JobType.unit_sync) & (Job.year == year))


def inputs_mark(session: Session, kind: str, module: int, year: int) -> int:
    """The newest input job of the preview; -1 while one is still active (its writes may
    land after this read, so figures computed now may not hold)."""
    cond = input_jobs(kind, module, year)
    if session.scalar(select(func.count()).where(cond, Job.state.in_(ACTIVE_STATES))):
        return -1
    return int(session.scalar(select(func.coalesce(func.max(Job.id), 0)).where(cond)) or 0)


def module_dets(module: int, det: int | None) -> list[int]:
    return [det] if det else [d.value for d in MODULE_DATA_ENTRY_TYPES[ModuleType(module)]]


def reference_slices(session: Session, kind: str, affected_years: list[int] | None
                     ) -> list[Slice]:
    """The (type, year) slices with entries that the reference upload changes a number of
    (every slice of its readers when it changes none: their totals, unchanged)."""
    dets = sorted(READERS[kind])
    have = session.execute(text(
        "SELECT DISTINCT data_entry_type_id, year FROM data_entries"
        " WHERE data_entry_type_id IN :dets").bindparams(bindparam("dets", expanding=True)),
        {"dets": dets}).all()
    wanted = set(affected_years) if affected_years else None
    return sorted((int(d), int(y)) for d, y in have if wanted is None or int(y) in wanted)


def reference_rows(session: Session) -> dict[str, list[list[Any]]]:
    """The live reference rows, as the slice context reads them (JSON-ready lists)."""
    return {
        "stations": [list(r) for r in session.execute(select(
            Station.name, Station.latitude, Station.longitude, Station.country_code)
            .where(Station.retired_by_job_id.is_(None)))],
        "rooms": [list(r) for r in session.execute(select(
            BuildingRoom.building_name, BuildingRoom.room_name, BuildingRoom.room_type,
            BuildingRoom.room_surface_square_meter)
            .where(BuildingRoom.retired_by_job_id.is_(None)))],
        "rates": [list(r) for r in session.execute(select(
            ExchangeRate.year, ExchangeRate.currency, ExchangeRate.rate_to_eur)
            .where(ExchangeRate.retired_by_job_id.is_(None)))],
    }


def refs_of(rows: dict[str, list[list[Any]]]) -> ReferenceData:
    return ReferenceData.build(stations=[tuple(r) for r in rows["stations"]],
                               rooms=[tuple(r) for r in rows["rooms"]],
                               rates=[tuple(r) for r in rows["rates"]])


_IDENTITY = {"stations": (0, 3), "rooms": (0, 1), "rates": (0, 1)}
_TABLE = {"stations": UploadKind.stations.value, "rooms": UploadKind.building_rooms.value,
          "rates": UploadKind.exchange_rates.value}


def reference_diff(before: dict[str, list[list[Any]]], after: dict[str, list[list[Any]]],
                   kind: str, limit: int) -> list[dict[str, Any]]:
    """The live rows of ``kind`` the upload adds, changes or retires, with their values
    before and after (the first ``limit``)."""
    table = next(t for t, k in _TABLE.items() if k == kind)
    ident = _IDENTITY[table]

    def keyed(rows: list[list[Any]]) -> dict[tuple[Any, ...], list[Any]]:
        return {tuple(r[i] for i in ident): r for r in rows}
    b, a = keyed(before[table]), keyed(after[table])
    out: list[dict[str, Any]] = []
    for key in sorted(b.keys() | a.keys(), key=repr):
        old, new = b.get(key), a.get(key)
        if old == new:
            continue
        change = "added" if old is None else "retired" if new is None else "updated"
        out.append({"key": list(key), "change": change, "values_before": old,
                    "values_after": new})
    return out[:limit]


def planned_entries(session: Session, det: int, year: int) -> list[int] | None:
    """The entries the recalculation that follows the upload would rewrite — incremental
    planning (services/recalc/affected.py) run inside the preview's savepoint, where the
    file's changes are visible as they will be after the apply — or None: all of them.
    Every other entry keeps its stored rows through that recalculation, so only these need
    the engine. The apply is refused when any input changed since, so its recalculation
    plans exactly these."""
    probe = Job(id=2**31 - 1, job_type=JobType.emission_recalc, meta={},
                module_type_id=MODULE_OF[DataEntryType(det)].value, data_entry_type_id=det,
                year=year)  # a recalculation requested now; never added to the session
    return plan_scope(session, probe).entry_ids


def factor_records(session: Session, slices: list[Slice]) -> dict[str, list[list[Any]]]:
    """Each slice's live factors as the upload leaves them (JSON-ready)."""
    return {f"{det}:{year}": [list(r) for r in load_factor_records(session, det, year)]
            for det, year in slices}


def index_of(records: dict[str, list[list[Any]]], det: int, year: int) -> Any:
    return build_index(det, year, [FactorRecord(int(i), int(et), c, v)
                                   for i, et, c, v in records[f"{det}:{year}"]])
