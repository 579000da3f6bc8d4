"""Which entries a reference upload can change: the reference half of incremental planning.

A reference upload stamps every station, room or rate it inserts, changes, retires or
revives with ``changed_by_job_id``. For a recalculation whose base read every input up to
the watermark W, the rows changed by a later job decide the entries to rewrite:

- train: entries whose origin or destination *name* is a changed station's (any country,
  so the name-only lookup of an entry without a country is covered too);
- building rooms and embodied energy: entries whose room name is a changed room's (any
  building: a room name alone falls back to the name-only surface map);
- spend types: entries whose currency (or the type's default) had a rate changed, in any
  year (a year without a rate reads the nearest year's); every entry when a factor of the
  slice is priced in such a currency.

Matching on names alone takes more entries than strictly needed, never fewer, so the
result stays exactly equal to a full recalculation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carbon_domain.db.enums import JobResult, JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Factor
from carbon_domain.db.reference_models import BuildingRoom, ExchangeRate, Station
from carbon_domain.json_types import JsonObject
from carbon_domain.reference import CURRENCY_DEFAULTS, READERS, kinds_read_by, room_key, station_key
from carbon_domain.upload_kinds import UploadKind


@dataclass(frozen=True)
class RefChange:
    """Entries grouped by ``keys`` are affected when ``hit`` says so."""

    keys: tuple[str, ...]
    hit: Callable[[JsonObject], bool]
    what: str  # "2 stations changed"


FULL = "full"  # every entry of the slice


def reference_jobs(kinds: list[str]) -> Any:
    """The condition on reference upload jobs of ``kinds`` (yearless: ``year IS NULL`` lets
    it use ix_jobs_combo, whose first column is the year)."""
    return (Job.year.is_(None) & (Job.job_type == JobType.reference_ingest)
            & Job.meta["config"]["kind"].as_string().in_(kinds))


def reference_change(session: Session, det: int, year: int, w: int
                     ) -> RefChange | str | None:
    """What reference uploads after W changed for this type: None (nothing), FULL (every
    entry), or the entries to take."""
    kinds = kinds_read_by(det)
    if not kinds:
        return None
    newer = session.execute(select(Job.meta["affected_years"], Job.meta["inserted"]).where(
        reference_jobs(kinds), Job.id > w, Job.state == JobState.FINISHED,
        func.coalesce(Job.result, "") != JobResult.ERROR)).all()
    if not newer:
        return None
    if any(stamped is None for _years, stamped in newer):
        return FULL  # an upload from before rows were stamped: nothing says what it changed
    if det in READERS[UploadKind.stations]:
        names = {station_key(n) for n in session.scalars(
            select(Station.name).where(Station.changed_by_job_id > w))} - {None}
        return _by_names(names, ("origin_name", "destination_name"), station_key,
                         "stations")
    if det in READERS[UploadKind.building_rooms]:
        rooms = {room_key(n) for n in session.scalars(
            select(BuildingRoom.room_name).where(BuildingRoom.changed_by_job_id > w))} - {None}
        return _by_names(rooms, ("room_name",), room_key, "building rooms")
    return _by_currency(session, det, year, w)


def _by_names(changed: set[Any], keys: tuple[str, ...], key: Callable[[Any], Any],
              what: str) -> RefChange | None:
    if not changed:
        return None
    return RefChange(keys, lambda d: any(key(d.get(k)) in changed for k in keys),
                     f"{len(changed)} {what} changed")


def _by_currency(session: Session, det: int, year: int, w: int) -> RefChange | str | None:
    currencies = {str(c).strip().lower() for c in session.scalars(
        select(ExchangeRate.currency).where(ExchangeRate.changed_by_job_id > w))}
    if not currencies:
        return None
    priced = {str(c or "eur").strip().lower() for c in session.scalars(
        select(Factor.values["currency"].as_string()).where(
            Factor.data_entry_type_id == det, Factor.year == year).distinct())}
    if priced & currencies:
        return FULL  # every entry's EF is converted with a changed rate
    default = CURRENCY_DEFAULTS.get(int(det), "eur")

    def hit(d: JsonObject) -> bool:
        return (str(d.get("currency") or "").strip().lower() or default) in currencies
    return RefChange(("currency",), hit, f"rates of {', '.join(sorted(currencies))} changed")
