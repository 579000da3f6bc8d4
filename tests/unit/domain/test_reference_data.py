"""Reference data: shipped stations and rates, uploads merged over them, reference CSV rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from carbon_domain.csv_rows import (
    RowError,
    parse_rate_row,
    parse_room_row,
    parse_station_row,
    parse_unit_row,
    reference_header_problem,
)
from carbon_domain.reference import (
    ReferenceData,
    haversine_km,
    load_default_rates,
    load_default_stations,
)

# Copies of the real CSV templates and smoke files of the system we replace.
TEMPLATES = Path(__file__).parent / "csv_templates"


class TestStations:
    def test_every_template_station_is_shipped(self):
        refs = ReferenceData.default()
        names: set[str] = set()
        for path in TEMPLATES.glob("travel_trains_*.csv"):
            with path.open(encoding="utf-8", errors="replace") as f:
                for row in csv.DictReader(f):
                    if row.get("origin_country_code"):
                        names.update((row["origin_name"], row["destination_name"]))
        names.discard("Atlantis")  # the smoke file's deliberately unknown station
        assert names and all(refs.station(n) for n in names), names

    def test_at_least_a_hundred_european_stations_with_iso2_codes(self):
        stations = load_default_stations()
        places = set(stations.values())
        assert len(places) >= 100
        for lat, lon, cc in places:
            assert 34 < lat < 72 and -11 < lon < 32 and len(cc) == 2 and cc.isupper()
        assert ("renens vd", "CH") in stations and ("london st pancras", "GB") in stations

    def test_names_are_case_and_space_insensitive(self):
        refs = ReferenceData.default()
        assert refs.station(" lausanne ") == refs.station("Lausanne")
        assert refs.station("Atlantis") is None

    def test_uploaded_stations_win_over_defaults(self):
        refs = ReferenceData.build(stations=[("Lausanne", 1.0, 2.0, "ch")])
        assert refs.station("LAUSANNE") == (1.0, 2.0, "CH")
        assert ReferenceData.default().station("Lausanne") != (1.0, 2.0, "CH")


class TestAirportsAndDistance:
    def test_airports_from_airportsdata(self):
        lat, lon, cc = ReferenceData.default().airport("gva")  # type: ignore[misc]
        assert cc == "CH" and lat == pytest.approx(46.24, abs=0.01)

    def test_haversine(self):
        assert haversine_km(0, 0, 0, 1) == pytest.approx(111.19, abs=0.01)
        assert haversine_km(46.2381, 6.10895, 49.0128, 2.55) == pytest.approx(407.74, abs=0.01)
        assert haversine_km(10, 10, 10, 10) == 0.0


class TestRooms:
    def test_room_names_are_normalised_and_ambiguous_names_need_the_building(self):
        refs = ReferenceData.build(rooms=[("BC", "BC 125", "office", 20),
                                          ("AI", "R 1", None, 10), ("BC", "R 1", None, 12)])
        assert refs.room_surface(None, "bc-125") == 20.0
        assert refs.room_surface("ai", "r1") == 10.0
        assert refs.room_surface(None, "R 1") is None  # two buildings disagree
        assert refs.room_type("BC", "BC125") == "office"


class TestRates:
    def test_defaults_cover_2020_to_2026(self):
        rates = load_default_rates()
        for year in range(2020, 2027):
            for cur in ("eur", "chf", "usd", "gbp", "jpy", "cad", "aud", "cny", "sek"):
                assert rates[(year, cur)] > 0
        assert rates[(2024, "eur")] == 1.0

    def test_rate_lookup_eur_nearest_year_and_uploads(self):
        refs = ReferenceData.build(rates=[(2024, "CHF", 1.1), (2024, "xyz", 2.0)])
        assert refs.rate_to_eur(2024, "EUR") == 1.0
        assert refs.rate_to_eur(2024, "chf") == 1.1
        assert refs.rate_to_eur(2031, "xyz") == 2.0  # nearest year with a rate
        assert refs.rate_to_eur(2019, "usd") == pytest.approx(1 / 1.1422)
        assert refs.rate_to_eur(2024, "abc") is None


class TestReferenceRows:
    def test_good_rows(self):
        assert parse_unit_row({"institutional_code": "10001", "institutional_id": "",
                               "name": "Lab", "level": "4",
                               "parent_institutional_code": "100"}).institutional_id is None
        assert parse_station_row({"name": "Renens VD", "latitude": "46.5", "longitude": "6.5",
                                  "country_code": "ch"}).as_tuple() == (
            "Renens VD", 46.5, 6.5, "CH")
        assert parse_room_row({"building_name": "BC", "room_name": "BC 125",
                               "room_type": "Lab", "room_surface_square_meter": "20"}
                              ).room_type == "laboratories"
        assert parse_rate_row({"year": "2024", "currency": "USD",
                               "rate_to_eur": "0.92"}).as_tuple() == (2024, "usd", 0.92)

    @pytest.mark.parametrize(("parse", "row", "reason"), [
        (parse_unit_row, {"institutional_code": "1", "name": "x"}, "level is required"),
        (parse_unit_row, {"institutional_code": "1", "name": "x", "level": "2.5"}, "level:"),
        (parse_station_row, {"name": "x", "latitude": "91", "longitude": "0",
                             "country_code": "CH"}, "latitude:"),
        (parse_station_row, {"name": "x", "latitude": "1", "longitude": "0",
                             "country_code": "Suisse"}, "country_code: 'Suisse' is not an ISO-2"),
        (parse_room_row, {"building_name": "BC", "room_name": "1",
                          "room_surface_square_meter": "-4"}, "room_surface_square_meter:"),
        (parse_rate_row, {"year": "2024", "currency": "usd", "rate_to_eur": "nan"},
         "rate_to_eur: 'nan' is not a number"),
        (parse_rate_row, {"year": "2024", "currency": "dollars", "rate_to_eur": "1"},
         "currency: 'dollars' is not one of eur, chf, usd"),
        (parse_rate_row, {"year": "2024", "currency": "xyz", "rate_to_eur": "1"},
         "currency: 'xyz' is not one of eur, chf, usd"),
        (parse_rate_row, {"year": "1999", "currency": "usd", "rate_to_eur": "1"},
         "year: 1999 is not a reporting year (2000-2100)"),
        (parse_rate_row, {"year": "2024", "currency": "usd", "rate_to_eur": "inf"},
         "rate_to_eur: 'inf' is not a number"),
    ])
    def test_bad_rows_give_one_reason(self, parse, row, reason):
        with pytest.raises(RowError) as exc:
            parse(row)
        assert str(exc.value).startswith(reason)

    def test_header_problems(self):
        assert reference_header_problem("stations", ["name", "latitude"]) == (
            "missing required column(s): longitude, country_code")
        assert reference_header_problem("units", ["institutional_code", "name", "level"]) is None
        assert reference_header_problem("building-rooms", []) == "the file has no header row"
        assert "unknown reference kind" in (reference_header_problem("planets", ["x"]) or "")


def test_the_rate_readers_are_the_spend_types() -> None:
    """Exchange rate uploads make stale exactly the types whose handler converts a spend."""
    from carbon_domain.reference import CURRENCY_DEFAULTS, READERS, kinds_read_by

    assert READERS["exchange-rates"] == set(CURRENCY_DEFAULTS)
    assert kinds_read_by(21) == ["stations"] and kinds_read_by(11) == []
    assert kinds_read_by(30) == kinds_read_by(32) == ["building-rooms"]
