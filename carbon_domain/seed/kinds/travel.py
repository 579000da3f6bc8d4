"""Professional travel (plane 20, train 21): Strategy B, so every entry finds a factor.

Planes: two haul bands per cabin, [0, 2500) and [2500, 999999) km per trip, with the
EF / RFI values the system we replace ships. Trains: a factor per country the routes
reach plus ``RoW``, which catches the others (NL, BE, GB, ES here). Every airport is in
``airportsdata`` and every station in the shipped ``data/stations.csv``.
"""

from __future__ import annotations

import random

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.seed.kinds.base import EntryRows, TypeSpec
from carbon_domain.seed.sampling import Weighted
from carbon_domain.seed.university import Unit, University

BANDS = (("short_to_medium_haul", 0, 2500), ("medium_to_long_haul", 2500, 999999))
PLANE_EF = {"economy": (0.2906, 0.1902), "business": (0.4471, 0.3930),
            "first": (0.2906, 0.6056)}
RFI = 1.35
HOME_AIRPORTS = Weighted([("GVA", 60), ("ZRH", 30), ("BSL", 10)])
DESTINATIONS = Weighted([
    ("CDG", 8), ("LHR", 7), ("AMS", 5), ("FRA", 4), ("MUC", 3), ("BCN", 4), ("MAD", 3),
    ("FCO", 3), ("VIE", 3), ("BRU", 3), ("CPH", 2), ("ARN", 2), ("LIS", 3), ("ATH", 2),
    ("DUB", 2), ("OSL", 1), ("HEL", 1), ("WAW", 1), ("PRG", 1), ("BUD", 1), ("IST", 2),
    ("TLV", 1), ("JFK", 4), ("BOS", 3), ("SFO", 3), ("LAX", 2), ("ORD", 2), ("IAD", 1),
    ("SEA", 1), ("YUL", 2), ("YYZ", 1), ("NRT", 2), ("HND", 1), ("PEK", 1), ("PVG", 2),
    ("HKG", 1), ("SIN", 2), ("ICN", 1), ("DXB", 1), ("DOH", 1), ("GRU", 1), ("EZE", 0.5),
    ("SYD", 1), ("MEL", 0.5), ("JNB", 0.5), ("NBO", 0.5), ("CAI", 0.5), ("DEL", 1),
    ("BOM", 0.5), ("BKK", 0.5), ("MEX", 0.5),
])
PLANE_CABINS = Weighted([("economy", 90), ("business", 9), ("first", 1)])
TRIPS = Weighted([(1, 70), (2, 20), (3, 5), (4, 3), (6, 1), (10, 1)])

TRAIN_EF = (("CH", 0.007), ("FR", 0.0037), ("DE", 0.032), ("IT", 0.028), ("AT", 0.012),
            ("RoW", 0.035))
TRAIN_ORIGINS = Weighted([("Lausanne", 40), ("Geneva", 20), ("Bern", 10), ("Zürich HB", 10),
                          ("Basel SBB", 5), ("Fribourg", 5), ("Neuchâtel", 5), ("Sion", 5)])
TRAIN_DESTINATIONS = Weighted([
    (("Geneva", "CH"), 14), (("Lausanne", "CH"), 10), (("Bern", "CH"), 10),
    (("Zürich HB", "CH"), 10), (("Basel SBB", "CH"), 5), (("Fribourg", "CH"), 4),
    (("Neuchâtel", "CH"), 3), (("Sion", "CH"), 3), (("Lugano", "CH"), 2), (("Luzern", "CH"), 2),
    (("Montreux", "CH"), 2), (("Yverdon-les-Bains", "CH"), 2), (("St. Gallen", "CH"), 1),
    (("Chur", "CH"), 1), (("Winterthur", "CH"), 1), (("Zug", "CH"), 1), (("Visp", "CH"), 1),
    (("Biel/Bienne", "CH"), 1), (("Paris Gare de Lyon", "FR"), 8), (("Lyon Part-Dieu", "FR"), 3),
    (("Annecy", "FR"), 1), (("Grenoble", "FR"), 1), (("Strasbourg", "FR"), 1),
    (("Marseille Saint-Charles", "FR"), 1), (("Frankfurt (Main) Hbf", "DE"), 2),
    (("München Hbf", "DE"), 1), (("Berlin Hbf", "DE"), 1), (("Stuttgart Hbf", "DE"), 1),
    (("Freiburg (Breisgau) Hbf", "DE"), 1), (("Milano Centrale", "IT"), 4),
    (("Torino Porta Nuova", "IT"), 1), (("Venezia Santa Lucia", "IT"), 0.5),
    (("Bologna Centrale", "IT"), 0.5), (("Wien Hauptbahnhof", "AT"), 1),
    (("Innsbruck Hbf", "AT"), 0.5), (("Amsterdam Centraal", "NL"), 1),
    (("Bruxelles-Midi", "BE"), 1), (("London St Pancras International", "GB"), 0.5),
    (("Barcelona Sants", "ES"), 0.5),
])
TRAIN_CABINS = Weighted([("second", 85), ("first", 15)])


def _plane_factors(_uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
    return [(band, cabin, efs[i], RFI, lo, hi)
            for cabin, efs in PLANE_EF.items() for i, (band, lo, hi) in enumerate(BANDS)]


def _person(rng: random.Random) -> str:
    return str(rng.randrange(100000, 400000))


def _planes(uni: University, rng: random.Random) -> EntryRows:
    dates = uni.dates

    def row(_u: Unit) -> tuple[object, ...]:
        home, away = HOME_AIRPORTS.pick(rng), DESTINATIONS.pick(rng)
        if rng.random() < 0.5:
            home, away = away, home  # the return leg
        return (home, away, _person(rng), dates[rng.randrange(len(dates))], TRIPS.pick(rng),
                PLANE_CABINS.pick(rng))
    return EntryRows(row)


def _train_factors(_uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
    return list(TRAIN_EF)


def _trains(uni: University, rng: random.Random) -> EntryRows:
    dates = uni.dates

    def row(_u: Unit) -> tuple[object, ...]:
        origin = (TRAIN_ORIGINS.pick(rng), "CH")
        dest = TRAIN_DESTINATIONS.pick(rng)
        while dest[0] == origin[0]:
            dest = TRAIN_DESTINATIONS.pick(rng)
        if rng.random() < 0.5:
            origin, dest = dest, origin
        return (origin[0], origin[1], dest[0], dest[1], _person(rng),
                dates[rng.randrange(len(dates))], TRIPS.pick(rng), TRAIN_CABINS.pick(rng))
    return EntryRows(row)


SPECS = (
    TypeSpec(D.plane, ("category", "cabin_class", "ef_kg_co2eq_per_km", "rfi_adjustment",
                       "min_distance", "max_distance"), _plane_factors,
             ("origin_iata", "destination_iata", "user_institutional_id", "departure_date",
              "number_of_trips", "cabin_class"), _planes),
    TypeSpec(D.train, ("country_code", "ef_kg_co2eq_per_km"), _train_factors,
             ("origin_name", "origin_country_code", "destination_name",
              "destination_country_code", "user_institutional_id", "departure_date",
              "number_of_trips", "cabin_class"), _trains),
)
