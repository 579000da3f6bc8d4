"""A reference upload is the set of its kind, like a factor upload.

``replace`` (the default): rows of the file are inserted or updated in place (ids stay),
and every live row of the kind the file does not contain is *retired* — kept for history,
never read again — so a wrong row is withdrawn by uploading the file without it. ``merge``
only inserts and updates. Rows the file has but could not use (a typo in a number) keep
their stored row alive: a file of typos retires nothing.

Every row written, retired or revived is stamped ``changed_by_job_id``: incremental
recalculation reads it to find the entries to rewrite (services/recalc/affected.py). The job's
``affected_years`` say which report years the upload changes a number of (None: every
year; [] when nothing changed), which the staleness status reads.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain import names
from carbon_domain.db.models import CarbonReport
from carbon_domain.db.reference_models import BuildingRoom, ExchangeRate, Station
from carbon_domain.json_types import JsonObject, JsonValue
from carbon_domain.reference import (
    ReferenceData,
    load_default_rates,
    room_key,
    station_country,
    station_key,
)
from carbon_domain.upload_kinds import UploadKind


@dataclass(frozen=True)
class _Spec:
    model: Any
    fields: tuple[str, ...]  # the values an upload updates
    key_of_row: Callable[[Any], Any]  # a stored row's identity
    make: Callable[[Any], Any]  # a new stored row from a parsed one


def station_identity(name: Any, country: Any) -> tuple[str, str] | None:
    key, cc = station_key(name), station_country(country)
    return (key, cc) if key and cc else None


def room_identity(building: Any, room: Any) -> tuple[str, str] | None:
    rk = room_key(room)
    return (names.norm(building) or "", rk) if rk else None


def rate_identity(year: Any, currency: Any) -> tuple[int, str] | None:
    try:
        y = int(str(year).strip())
    except (TypeError, ValueError):
        return None
    cur = str(currency or "").strip().lower()
    return (y, cur) if cur else None


_SPECS: dict[str, _Spec] = {
    UploadKind.stations: _Spec(
        Station, ("latitude", "longitude"),
        lambda o: station_identity(o.name, o.country_code),
        lambda r: Station(name=r.name, country_code=r.country_code)),
    UploadKind.building_rooms: _Spec(
        BuildingRoom, ("room_type", "room_surface_square_meter"),
        lambda o: room_identity(o.building_name, o.room_name),
        lambda r: BuildingRoom(building_name=r.building_name, room_name=r.room_name)),
    UploadKind.exchange_rates: _Spec(
        ExchangeRate, ("rate_to_eur",),
        lambda o: rate_identity(o.year, o.currency),
        lambda r: ExchangeRate(year=r.year, currency=r.currency.lower())),
}


def parsed_identity(kind: str, r: Any) -> Any:
    """The identity of a parsed (valid) row of ``kind``."""
    if kind == UploadKind.stations:
        return station_identity(r.name, r.country_code)
    if kind == UploadKind.building_rooms:
        return room_identity(r.building_name, r.room_name)
    return rate_identity(r.year, r.currency)


def raw_identity(kind: str, row: Mapping[str, Any]) -> Any:
    """The identity a rejected CSV row names, if it can be read (else None)."""
    r = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    if kind == UploadKind.stations:
        return station_identity(r.get("name"), names.country_code(r.get("country_code")))
    if kind == UploadKind.building_rooms:
        return room_identity(r.get("building_name"), r.get("room_name"))
    return rate_identity(r.get("year"), r.get("currency"))


@dataclass(frozen=True)
class ReferenceSetResult:
    rows: int
    inserted: int
    updated: int
    unchanged: int
    revived: int
    retired: int
    affected_years: list[int] | None  # None: every year

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.revived + self.retired

    def summary(self, kind: str, merge: bool) -> str:
        return (f"{self.rows} {kind} rows ({self.inserted} new, {self.updated} updated,"
                f" {self.unchanged} unchanged, {self.revived} revived, {self.retired} retired)"
                + (" (merge: nothing retired)" if merge else ""))

    def meta(self) -> JsonObject:
        """What the upload wrote, for its job's meta."""
        years: list[JsonValue] | None = (
            None if self.affected_years is None else list(self.affected_years))
        return {"inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged, "revived": self.revived,
                "retired": self.retired, "affected_years": years}


def write_reference_set(session: Session, kind: str, rows: Collection[Any], *, job_id: int,
                        merge: bool, keep: Collection[Any] = ()) -> ReferenceSetResult:
    """Upsert ``rows`` (parsed rows, one per identity); unless ``merge``, retire the live
    rows of the kind that are neither in ``rows`` nor in ``keep`` (rejected rows' ids)."""
    spec = _SPECS[kind]
    before = _live_rates(session) if kind == UploadKind.exchange_rates else None
    stored: dict[Any, Any] = {}
    extra: list[Any] = []  # stored rows whose identity another stored row already has
    for o in session.scalars(select(spec.model)):
        k = spec.key_of_row(o)
        if k in stored:
            extra.append(o)
        else:
            stored[k] = o
    inserted = updated = unchanged = revived = retired = 0
    wanted: set[Any] = set()
    for r in rows:
        k = parsed_identity(kind, r)
        wanted.add(k)
        o = stored.get(k)
        if o is None:
            o = stored[k] = spec.make(r)
            session.add(o)
            inserted += 1
            changed = True
        else:
            changed = any(getattr(o, f) != getattr(r, f) for f in spec.fields)
            if o.retired_by_job_id is not None:
                o.retired_by_job_id = None
                revived += 1
                changed = True
            elif changed:
                updated += 1
            else:
                unchanged += 1
        if changed:
            for f in spec.fields:
                setattr(o, f, getattr(r, f))
            o.changed_by_job_id = job_id
    if not merge:
        alive = wanted | set(keep)
        for k, o in stored.items():
            if k not in alive and o.retired_by_job_id is None:
                o.retired_by_job_id = o.changed_by_job_id = job_id
                retired += 1
        for o in extra:  # a duplicate spelling of an identity the file has: one stays
            if o.retired_by_job_id is None:
                o.retired_by_job_id = o.changed_by_job_id = job_id
                retired += 1
    session.flush()
    changed_rows = inserted + updated + revived + retired
    years: list[int] | None = None
    if not changed_rows:
        years = []
    elif before is not None:
        years = _rate_years(session, before, _live_rates(session))
    return ReferenceSetResult(len(wanted), inserted, updated, unchanged, revived, retired,
                              years)


def _live_rates(session: Session) -> dict[tuple[int, str], float]:
    rows = session.execute(select(ExchangeRate.year, ExchangeRate.currency,
                                  ExchangeRate.rate_to_eur)
                           .where(ExchangeRate.retired_by_job_id.is_(None)))
    return {(int(y), str(c).strip().lower()): float(r) for y, c, r in rows}


def _rate_years(session: Session, before: dict[tuple[int, str], float],
                after: dict[tuple[int, str], float]) -> list[int]:
    """The report years whose effective rate of some currency changed. A year without a
    rate of its own reads the nearest year's, so a change can reach other years."""
    keys = set(before) | set(after)
    currencies = {cur for (y, cur) in keys if before.get((y, cur)) != after.get((y, cur))}
    if not currencies:
        return []
    old, new = (_rates_view(before), _rates_view(after))
    years = {int(y) for y in session.scalars(select(CarbonReport.year).distinct())}
    years |= {y for (y, _c) in keys}
    return sorted(y for y in years
                  if any(old.rate_to_eur(y, c) != new.rate_to_eur(y, c) for c in currencies))


def _rates_view(live: dict[tuple[int, str], float]) -> ReferenceData:
    ref = ReferenceData(airports={}, stations={}, rates=dict(load_default_rates()))
    ref.add_rates((y, c, r) for (y, c), r in live.items())
    return ref
