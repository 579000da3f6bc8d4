"""Why a year's data entry type cannot be fully computed: the "incomplete" flags.

Each check mirrors what the handler needs (carbon_domain/handlers): live factors of the
year for every type; a surface for building rooms (type 30: the entry's own, else the
building rooms reference); known stations for train trips (21); an exchange rate for
spend in another currency than EUR (purchases 60-66 default CHF, external clouds 40 EUR).
The reference lookups build ``ReferenceData`` from the same uploaded rows as the
computation's ``load_reference_data`` (defaults merged with uploads) so the flag and the
computation cannot disagree; without the airport table, which no check reads and which cost
the status read ~0.35 s to load (``airportsdata``, 7,884 airports). Each check is one
grouped query over the year's entries of one type, run only when that type has entries.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, func, literal, select, union_all
from sqlalchemy.orm import Session

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.models import DataEntry, Factor
from carbon_domain.reference import CURRENCY_DEFAULTS, ReferenceData
from carbon_domain.services.inputs.reference_reads import reference_rows, refs_fingerprint


@dataclass(slots=True)
class Completeness:
    entry_count: int = 0
    live_factor_count: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def incomplete(self) -> bool:
        return bool(self.reasons)


def entry_counts(session: Session, year: int, dets: list[int]) -> dict[int, int]:
    """Entries per type of the year (index-only on ix_data_entries_slice; cached)."""
    return {det: f.entry_count for det, f in entry_facts(session, year, dets).items()}


@dataclass(frozen=True, slots=True)
class EntryFacts:
    """What the year's entries of one type say, independent of the factors."""

    entry_count: int
    reference_reasons: tuple[str, ...]


# Counting and checking the entries scans them (~0.5 s for 460,000 entries), so the result
# is kept per (database, year, type) until the entries or the reference data change. The
# fingerprint sees every upload (a replacement deletes and inserts: new min/max ids) and
# every reference upload; CACHE_SECONDS bounds what it cannot see (a unit's report deleted).
CACHE_SECONDS = 300.0
_lock = threading.Lock()
_cache: dict[tuple[str, int, int], tuple[tuple[Any, ...], float, EntryFacts]] = {}


def _fingerprints(session: Session, year: int, dets: list[int]) -> dict[int, tuple[Any, ...]]:
    """(min id, max id, created_at of the newest) of the year's entries per type: index
    probes. The timestamp tells apart two different entry sets with the same ids (after a
    TRUNCATE ... RESTART IDENTITY, as the tests do)."""
    src = union_all(*[select(literal(d, Integer).label("d")) for d in dets]).cte("dets")
    mine = (DataEntry.data_entry_type_id == src.c.d, DataEntry.year == year)
    newest = (select(DataEntry.created_at).where(*mine).order_by(DataEntry.id.desc())
              .limit(1).scalar_subquery())
    return {int(d): (lo, hi, at) for d, lo, hi, at in session.execute(select(
        src.c.d, select(func.min(DataEntry.id)).where(*mine).scalar_subquery(),
        select(func.max(DataEntry.id)).where(*mine).scalar_subquery(), newest))}


def entry_facts(session: Session, year: int, dets: list[int]) -> dict[int, EntryFacts]:
    if not dets:
        return {}
    db = str(session.get_bind().engine.url)
    refs_fp = refs_fingerprint(session)
    prints = {d: (*fp, refs_fp) for d, fp in _fingerprints(session, year, dets).items()}
    now = time.monotonic()
    out: dict[int, EntryFacts] = {}
    with _lock:
        for det in dets:
            hit = _cache.get((db, year, det))
            if hit and hit[0] == prints[det] and now - hit[1] < CACHE_SECONDS:
                out[det] = hit[2]
    missing = [d for d in dets if d not in out]
    if missing:
        fresh = _compute_facts(session, year, missing)
        with _lock:
            for det, facts in fresh.items():
                _cache[(db, year, det)] = (prints[det], now, facts)
        out.update(fresh)
    return out


def _compute_facts(session: Session, year: int, dets: list[int]) -> dict[int, EntryFacts]:
    counts = {int(d): int(n) for d, n in session.execute(
        select(DataEntry.data_entry_type_id, func.count())
        .where(DataEntry.data_entry_type_id.in_(dets), DataEntry.year == year)
        .group_by(DataEntry.data_entry_type_id))}
    reasons: dict[int, list[str]] = {d: [] for d in dets}
    refs: ReferenceData | None = None
    for det in (int(D.building), int(D.train)):
        if counts.get(det):
            refs = refs or _reference_data(session)
            reason = (_missing_rooms if det == D.building else _missing_stations)(
                session, year, refs)
            if reason:
                reasons[det].append(reason)
    spend = [d for d in dets if d in CURRENCY_DEFAULTS and counts.get(d)]
    if spend:
        refs = refs or _reference_data(session)
        for det, reason in _missing_rates(session, year, spend, refs).items():
            reasons[det].append(reason)
    return {d: EntryFacts(counts.get(d, 0), tuple(reasons[d])) for d in dets}


def _reference_data(session: Session) -> ReferenceData:
    """Shipped defaults with the uploads merged over them, as the computation reads them,
    minus the airports (no check here reads them)."""
    rows = reference_rows(session)
    return ReferenceData.build(stations=rows.stations, rooms=rows.rooms, rates=rows.rates,
                               airports={})


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def live_factor_counts(session: Session, year: int, dets: list[int]) -> dict[int, int]:
    """Factors of the year not retired (``retired_at IS NULL``) per type."""
    if not dets:
        return {}
    return {int(d): int(n) for d, n in session.execute(
        select(Factor.data_entry_type_id, func.count())
        .where(Factor.data_entry_type_id.in_(dets), Factor.year == year,
               Factor.retired_at.is_(None))
        .group_by(Factor.data_entry_type_id))}


def completeness(session: Session, year: int, dets: list[int]) -> dict[int, Completeness]:
    facts = entry_facts(session, year, dets)
    factors = live_factor_counts(session, year, dets)
    out: dict[int, Completeness] = {}
    for det in dets:
        f = facts[det]
        c = Completeness(f.entry_count, factors.get(det, 0))
        if c.entry_count and not c.live_factor_count:
            c.reasons.append(f"no live factors for {year} although it has "
                             f"{_n(c.entry_count, 'entry', 'entries')}")
        c.reasons.extend(f.reference_reasons)
        out[det] = c
    return out


def _values(session: Session, year: int, det: int, *keys: str) -> list[tuple[Any, ...]]:
    """(value of each key, entry count) over the year's entries of the type, grouped."""
    cols = [DataEntry.data[k].as_string() for k in keys]
    return [tuple(r) for r in session.execute(
        select(*cols, func.count()).where(DataEntry.data_entry_type_id == det,
                                          DataEntry.year == year).group_by(*cols))]


def _missing_rooms(session: Session, year: int, refs: ReferenceData) -> str | None:
    missing = 0
    rooms: set[str] = set()
    for building, room, surface, n in _values(session, year, D.building, "building_name",
                                              "room_name", "room_surface_square_meter"):
        if surface not in (None, "") or refs.room_surface(building, room) is not None:
            continue
        missing += int(n)
        rooms.add(f"{building or '?'}/{room or '?'}")
    if not missing:
        return None
    return (f"building rooms missing from the reference: {_sample(rooms)} "
            f"({_n(missing, 'entry', 'entries')} without a surface of their own)")


def _missing_stations(session: Session, year: int, refs: ReferenceData) -> str | None:
    missing = 0
    names: set[str] = set()
    for origin, oc, destination, dc, n in _values(
            session, year, D.train, "origin_name", "origin_country_code", "destination_name",
            "destination_country_code"):
        unknown = [f"{s} ({c})" if c else str(s)
                   for s, c in ((origin, oc), (destination, dc)) if refs.station(s, c) is None]
        if unknown:
            missing += int(n)
            names.update(unknown)
    if not missing:
        return None
    return (f"stations missing from the reference: {_sample(names)} "
            f"({_n(missing, 'entry', 'entries')})")


def _missing_rates(session: Session, year: int, dets: list[int], refs: ReferenceData
                   ) -> dict[int, str]:
    """One grouped query over every spend type: (type, currency) → entries."""
    cur_col = DataEntry.data["currency"].as_string()
    missing: dict[int, int] = {}
    currencies: dict[int, set[str]] = {}
    for det, currency, n in session.execute(
            select(DataEntry.data_entry_type_id, cur_col, func.count())
            .where(DataEntry.data_entry_type_id.in_(dets), DataEntry.year == year)
            .group_by(DataEntry.data_entry_type_id, cur_col)):
        cur = str(currency or "").strip().lower() or CURRENCY_DEFAULTS[int(det)]
        if refs.rate_to_eur(year, cur) is None:
            missing[int(det)] = missing.get(int(det), 0) + int(n)
            currencies.setdefault(int(det), set()).add(cur.upper())
    return {det: (f"exchange rates missing: no rate to EUR for {_sample(currencies[det])} "
                  f"({_n(n, 'entry', 'entries')})") for det, n in missing.items()}


def _n(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _sample(items: set[str], at_most: int = 5) -> str:
    shown = sorted(items)[:at_most]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
