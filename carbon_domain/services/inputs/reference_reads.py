"""The uploaded reference rows (stations, building rooms, exchange rates) as the formulas
read them, and the fingerprint that versions them: what ``slices.load_reference_data``
merges over the shipped defaults, in a module light enough for the status read (which
checks rooms, stations and rates but never airports; slices.py imports the engine's
factor index and the CSV schemas)."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from carbon_domain.db.enums import JobState, JobType
from carbon_domain.db.reference_models import BuildingRoom, ExchangeRate, Station


def refs_fingerprint(session: Session) -> tuple[Any, ...]:
    # Every reference upload is a job that commits with its rows, so the last finished
    # one versions the content (in-place corrections keep counts and ids unchanged).
    return tuple(session.execute(text(
        "SELECT (SELECT max(id) FROM data_ingestion_jobs WHERE job_type = :kind"
        " AND state = :finished),"
        " (SELECT count(*) FROM stations), (SELECT max(id) FROM stations),"
        " (SELECT count(*) FROM building_rooms), (SELECT max(id) FROM building_rooms),"
        " (SELECT sum(room_surface_square_meter) FROM building_rooms),"
        " (SELECT count(*) FROM exchange_rates), (SELECT sum(rate_to_eur) FROM exchange_rates)"
    ), {"kind": JobType.reference_ingest.value, "finished": JobState.FINISHED.value}).one())


class ReferenceRows(NamedTuple):
    """``ReferenceData.build``'s stations, rooms and rates."""

    stations: list[tuple[str, float, float, str]]
    rooms: list[tuple[str | None, str, str | None, float]]
    rates: list[tuple[int, str, float]]


def reference_rows(session: Session) -> ReferenceRows:
    """The live uploaded rows."""
    # Row._tuple(): the same row, typed as a tuple of its columns' types. Retired rows (a
    # replace upload left them out) are history, never read.
    return ReferenceRows(
        stations=[r._tuple() for r in session.execute(select(
            Station.name, Station.latitude, Station.longitude, Station.country_code)
            .where(Station.retired_by_job_id.is_(None)))],
        rooms=[r._tuple() for r in session.execute(select(
            BuildingRoom.building_name, BuildingRoom.room_name, BuildingRoom.room_type,
            BuildingRoom.room_surface_square_meter)
            .where(BuildingRoom.retired_by_job_id.is_(None)))],
        rates=[r._tuple() for r in session.execute(select(
            ExchangeRate.year, ExchangeRate.currency, ExchangeRate.rate_to_eur)
            .where(ExchangeRate.retired_by_job_id.is_(None)))],
    )
