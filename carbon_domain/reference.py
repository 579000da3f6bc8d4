"""Reference data the formulas need: airports, train stations, building rooms, exchange rates.

Everything is plain dicts keyed by normalised names so the compute hot loop does one dict
lookup per value. Defaults ship with the package (``data/*.csv``, ``airportsdata``); the
database supplies uploads, which are merged over the defaults.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.names import compact, norm
from carbon_domain.upload_kinds import UploadKind

Point = tuple[float, float, str]  # latitude, longitude, ISO-2 country code
StationKey = tuple[str, str]  # (normalised name, ISO-2 country code)
EARTH_RADIUS_KM = 6371.0

# Types whose handler converts a spend: their default currency when the entry has none.
CURRENCY_DEFAULTS: dict[int, str] = {
    **{int(d): "chf" for d in (D.scientific_equipment, D.it_equipment, D.consumable_accessories,
                               D.biological_chemical_gaseous_product, D.services, D.vehicles,
                               D.other_purchases)},
    int(D.external_clouds): "eur",
}


# The data entry types whose formulas read each uploadable reference kind (their handlers
# call ``station``, ``room_surface`` or ``rate_to_eur``): an upload of the kind makes exactly
# these types stale, and their incremental recalculation looks at what it changed.
READERS: dict[str, frozenset[int]] = {
    UploadKind.stations: frozenset({int(D.train)}),
    UploadKind.building_rooms: frozenset({int(D.building), int(D.building_embodied_energy)}),
    UploadKind.exchange_rates: frozenset({int(d) for d in (
        D.external_clouds, D.scientific_equipment, D.it_equipment, D.consumable_accessories,
        D.biological_chemical_gaseous_product, D.services, D.vehicles, D.other_purchases)}),
}


def kinds_read_by(det: int) -> list[str]:
    """The reference kinds a data entry type's formula reads (empty for most types)."""
    return [kind for kind, dets in READERS.items() if int(det) in dets]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a spherical Earth (mean radius), in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def station_key(name: object) -> str | None:
    return norm(name)


def station_country(country: object) -> str | None:
    """A station's ISO-2 country code (upper case), or None when blank or not ISO-2."""
    code = str(country).strip().upper() if country is not None else ""
    return code if len(code) == 2 and code.isalpha() and code.isascii() else None


def room_key(name: object) -> str | None:
    return compact(name)


@cache
def load_airports() -> dict[str, Point]:
    """IATA → (lat, lon, country), read once per process from ``airportsdata``."""
    # Lazy: ~0.15 s at import, and only plane entries need it.
    import airportsdata  # noqa: PLC0415

    return {code: (float(a["lat"]), float(a["lon"]), str(a["country"]))
            for code, a in airportsdata.load("IATA").items()}


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("carbon_domain").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def load_default_stations() -> dict[StationKey, Point]:
    """The shipped station table (``data/stations.csv``), keyed by (normalised name,
    country): two stations of one name in two countries are two stations."""
    # Every shipped row has a name (210 rows); a blank one could never be looked up anyway.
    out: dict[StationKey, Point] = {}
    for r in _read_csv("stations.csv"):
        key, cc = station_key(r["name"]), station_country(r["country_code"])
        if key is not None and cc is not None:
            out[(key, cc)] = (float(r["latitude"]), float(r["longitude"]), cc)
    return out


@cache
def load_default_rates() -> dict[tuple[int, str], float]:
    """Shipped yearly EUR rates (ECB-like averages; the latest years are estimates)."""
    return {(int(r["year"]), r["currency"].strip().lower()): float(r["rate_to_eur"])
            for r in _read_csv("exchange_rates.csv")}


@dataclass(slots=True)
class ReferenceData:
    airports: dict[str, Point]
    stations: dict[StationKey, Point]
    # Surfaces by (building key, room key) and by room key alone; a room name used in two
    # buildings with different surfaces is dropped from the name-only map (ambiguous).
    rooms: dict[str, float] = field(default_factory=dict)
    rooms_by_building: dict[tuple[str, str], float] = field(default_factory=dict)
    room_types: dict[tuple[str, str], str] = field(default_factory=dict)
    rates: dict[tuple[int, str], float] = field(default_factory=dict)
    _rate_memo: dict[tuple[int, str], float | None] = field(default_factory=dict, repr=False)
    # Name → station when exactly one country has a station of that name (None: ambiguous),
    # for lookups that give no country; rebuilt lazily after stations change.
    _station_names: dict[str, Point | None] | None = field(default=None, repr=False)

    @classmethod
    def default(cls, airports: dict[str, Point] | None = None) -> ReferenceData:
        """The shipped tables; ``airports`` replaces the airport table (~0.35 s to load)."""
        return cls(airports=load_airports() if airports is None else airports,
                   stations=dict(load_default_stations()), rates=dict(load_default_rates()))

    @classmethod
    def build(
        cls,
        *,
        stations: Iterable[tuple[str, float, float, str]] = (),
        rooms: Iterable[tuple[str | None, str, str | None, float]] = (),
        rates: Iterable[tuple[int, str, float]] = (),
        airports: dict[str, Point] | None = None,
    ) -> ReferenceData:
        """Defaults with DB-supplied rows merged over them (an upload wins over a default).

        stations: (name, lat, lon, country), keyed by (name, country); rooms: (building,
        room, room_type, surface m²); rates: (year, currency, rate_to_eur).
        """
        ref = cls.default(airports)
        ref.add_stations(stations)
        ref.add_rooms(rooms)
        ref.add_rates(rates)
        return ref

    def add_stations(self, rows: Iterable[tuple[str, float, float, str]]) -> None:
        for name, lat, lon, country in rows:
            key, cc = station_key(name), station_country(country)
            if key and cc:
                self.stations[(key, cc)] = (float(lat), float(lon), cc)
        self._station_names = None

    def add_rooms(self, rows: Iterable[tuple[str | None, str, str | None, float]]) -> None:
        ambiguous: set[str] = set()
        for building, room, rtype, surface in rows:
            rk, bk = room_key(room), norm(building) or ""
            if not rk:
                continue
            self.rooms_by_building[(bk, rk)] = float(surface)
            if rtype:
                self.room_types[(bk, rk)] = rtype
            if rk in self.rooms and self.rooms[rk] != float(surface):
                ambiguous.add(rk)
            self.rooms[rk] = float(surface)
        for rk in ambiguous:
            del self.rooms[rk]

    def add_rates(self, rows: Iterable[tuple[int, str, float]]) -> None:
        for year, currency, rate in rows:
            self.rates[(int(year), str(currency).strip().lower())] = float(rate)
        self._rate_memo.clear()

    # -- lookups ---------------------------------------------------------------------------
    def airport(self, iata: object) -> Point | None:
        return self.airports.get(str(iata).strip().upper()) if iata else None

    def station(self, name: object, country: object = None) -> Point | None:
        """The station (name, country). Without a country, the one station of that name
        (None when stations of that name exist in several countries: never guess)."""
        key = station_key(name)
        if not key:
            return None
        cc = station_country(country)
        if cc is not None:
            return self.stations.get((key, cc))
        if self._station_names is None:
            by_name: dict[str, Point | None] = {}
            for (n, _cc), point in self.stations.items():
                by_name[n] = None if n in by_name else point
            self._station_names = by_name
        return self._station_names.get(key)

    def room_surface(self, building: object, room: object) -> float | None:
        rk = room_key(room)
        if rk is None:
            return None
        found = self.rooms_by_building.get((norm(building) or "", rk))
        return found if found is not None else self.rooms.get(rk)

    def room_type(self, building: object, room: object) -> str | None:
        rk = room_key(room)
        return self.room_types.get((norm(building) or "", rk)) if rk else None

    def rate_to_eur(self, year: int | None, currency: object) -> float | None:
        """EUR for one unit of ``currency`` in ``year``; ``amount_eur = amount × rate``.

        A year without a rate uses the nearest year that has one (earlier on ties): a report
        for a year the table does not cover yet still gets a plausible rate.
        """
        cur = (str(currency).strip().lower() if currency else "eur")
        key = (int(year) if year is not None else 0, cur)
        if key in self._rate_memo:
            return self._rate_memo[key]
        rate = 1.0 if cur == "eur" else self.rates.get(key)
        if rate is None:
            years = sorted(y for (y, c) in self.rates if c == cur)
            if years:
                target = key[0] if year is not None else years[-1]
                best = min(years, key=lambda y: (abs(y - target), y))
                rate = self.rates[(best, cur)]
        self._rate_memo[key] = rate
        return rate
