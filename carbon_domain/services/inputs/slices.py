"""What a chunk needs besides its entries: the slice's factor index and the reference data,
loaded once per (type, year) per worker process and reused until the data changes."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from carbon_domain.matching import FactorIndex, FactorRecord
from carbon_domain.reference import ReferenceData
from carbon_domain.services.inputs.factors import factor_fingerprint, load_factor_records
from carbon_domain.services.inputs.reference_reads import reference_rows, refs_fingerprint


@dataclass(frozen=True)
class SliceContext:
    index: Any  # carbon_domain.matching.FactorIndex
    refs: ReferenceData


_lock = threading.Lock()
_index_cache: dict[tuple[str, int, int], tuple[tuple[Any, ...], Any]] = {}
_refs_cache: dict[str, tuple[tuple[Any, ...], ReferenceData]] = {}


def _db_key(session: Session) -> str:
    return str(session.get_bind().engine.url)  # Engine.engine is the engine itself


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
    rows = reference_rows(session)
    refs = ReferenceData.build(stations=rows.stations, rooms=rows.rooms, rates=rows.rates)
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
