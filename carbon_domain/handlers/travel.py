"""Professional travel: plane and train, Strategy B (band / country chosen at compute time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbon_domain import formulas, names
from carbon_domain.handlers.base import Context, EntryError, Part, number
from carbon_domain.matching import FactorRecord
from carbon_domain.reference import Point


def _place(found: Point | None, what: str, name: Any) -> Point:
    if found is None:
        raise EntryError(f"unknown {what} {name!r}")
    return found


def _station(ctx: Context, name: Any, country: Any) -> Point:
    found = ctx.refs.station(name, country)
    if found is None:
        raise EntryError(f"unknown station {name!r}" + (f" in {country}" if country else ""))
    return found


def _trip_km(ctx: Context, key: tuple[str, Any, Any], a: Point, b: Point) -> float:
    # Few distinct routes, many entries: memoise the great-circle arithmetic per batch.
    km = ctx.memo.get(key)
    if km is None:
        fn = formulas.plane_trip_km if key[0] == "plane" else formulas.train_trip_km
        km = ctx.memo[key] = fn(a[0], a[1], b[0], b[1])
    return km


def plane(data: Mapping[str, Any], types: list[int], _factor: FactorRecord | None,
          ctx: Context) -> list[Part]:
    """Band by per-trip km and cabin; kg = total km × EF × RFI; additional_value = km."""
    o, d = data.get("origin_iata"), data.get("destination_iata")
    a = _place(ctx.refs.airport(o), "airport", o)
    b = _place(ctx.refs.airport(d), "airport", d)
    per_trip = _trip_km(ctx, ("plane", o, d), a, b)
    trips = number(data, "number_of_trips", 1.0, lo=1.0)
    band = ctx.index.plane_band(names.plane_cabin(data.get("cabin_class")) or "", per_trip)
    if band is None:
        return []
    fid, ef, rfi = band
    km = per_trip * trips
    return [(types[0], formulas.plane_kg(km, ef, rfi), km, fid)]


def train(data: Mapping[str, Any], types: list[int], _factor: FactorRecord | None,
          ctx: Context) -> list[Part]:
    """Country rule (CH / foreign end / RoW) with RoW fallback; kg = total km × EF."""
    o, d = data.get("origin_name"), data.get("destination_name")
    oc, dc = data.get("origin_country_code"), data.get("destination_country_code")
    # Stations are (name, country): Paris FR and a Paris elsewhere are two stations.
    a = _station(ctx, o, oc)
    b = _station(ctx, d, dc)
    per_trip = _trip_km(ctx, ("train", a, b), a, b)
    trips = number(data, "number_of_trips", 1.0, lo=1.0)
    country = formulas.train_country(names.country_code(oc) or a[2],
                                     names.country_code(dc) or b[2])
    hit = ctx.index.train_country(country)
    if hit is None:
        return []
    fid, ef = hit
    km = per_trip * trips
    return [(types[0], km * ef, km, fid)]
