"""What a chunk needs besides its entries: the slice's factor index and the reference data,
loaded once per (type, year) per worker process and reused until the data changes."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from carbon_domain.db.enums import JobState, JobType
from carbon_domain.db.reference_models import BuildingRoom, ExchangeRate, Station
from carbon_domain.matching import FactorIndex, FactorRecord
from carbon_domain.reference import ReferenceData
from carbon_domain.services.inputs.factors import factor_fingerprint, load_factor_records


@dataclass(frozen=True)
class SliceContext:
    index: Any  # carbon_domain.matching.FactorIndex
    refs: ReferenceData


_lock = threading.Lock()
_index_cache: dict[tuple[str, int, int], tuple[tuple[Any, ...], Any]] = {}
_refs_cache: dict[str, tuple[tuple[Any, ...], ReferenceData]] = {}


def _db_key(session: Session) -> str:
    return str(session.get_bind().engine.url)  # Engine.engine is the engine itself


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


def build_index(det: int, year: int, records: list[FactorRecord]) -> Any:
    return FactorIndex(det, records, year=year)


def load_factor_index(session: Session, det: int, year: int) -> Any:
    key = (_db_key(session), det, year)
    fp = factor_fingerprint(session, det, year)
    with _lock:
        hit = _index_cache.get(key)
        if hit and hit[0] == fp:
            return hit[1]
    index = build_index(det, year, load_factor_records(session, det, year))
    with _lock:
        _index_cache[key] = (fp, index)
    return index


def load_reference_data(session: Session) -> ReferenceData:
    key = _db_key(session)
    fp = refs_fingerprint(session)
    with _lock:
        hit = _refs_cache.get(key)
        if hit and hit[0] == fp:
            return hit[1]
    # Row._tuple(): the same row, typed as a tuple of its columns' types. Retired rows (a
    # replace upload left them out) are history, never read.
    refs = ReferenceData.build(
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
    with _lock:
        _refs_cache[key] = (fp, refs)
    return refs


def load_slice_context(session: Session, det: int, year: int) -> SliceContext:
    return SliceContext(load_factor_index(session, det, year), load_reference_data(session))


def clear_caches() -> None:
    """Forget every cached factor index and reference set (tests that compare a full and an
    incremental run in one process start each from the database)."""
    with _lock:
        _index_cache.clear()
        _refs_cache.clear()
