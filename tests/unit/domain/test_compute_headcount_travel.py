"""Hand-computed emissions for headcount (1, 2) and professional travel (20, 21)."""

from __future__ import annotations

import math

import pytest

from carbon_domain import formulas
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.emission_types import EmissionType as E
from carbon_domain.reference import ReferenceData

approx = pytest.approx


@pytest.fixture
def headcount_factors(factor):  # type: ignore[no-untyped-def]
    def make(det: D) -> list:  # type: ignore[type-arg]
        return [
            factor(det, 1, headcount_category="food", headcount_class="vegetarian", unit="kg",
                   number_of_unit_per_fte=100, ef_kg_co2eq_per_unit=1.0),
            factor(det, 2, headcount_category="waste", headcount_class="incineration",
                   unit="kg", number_of_unit_per_fte=50, ef_kg_co2eq_per_unit=0.5),
            factor(det, 3, headcount_category="commuting", headcount_class="public_transport",
                   unit="km", number_of_unit_per_fte=200, ef_kg_co2eq_per_unit=0.2),
            factor(det, 4, headcount_category="Waste", headcount_class="Recycling",
                   headcount_subclass="Paper", number_of_unit_per_fte=10,
                   ef_kg_co2eq_per_unit=0.3),
        ]
    return make


class TestHeadcount:
    def test_member_worked_example_one_row_per_factor_and_no_rollup(self, run,
                                                                   headcount_factors):
        res = run(D.member, headcount_factors(D.member), {"fte": 0.8})
        rows = {r[1]: (r[3], r[4], r[5]) for r in res.rows}
        assert rows == {
            int(E.food__vegetarian): (approx(80.0), approx(80.0), 1),
            int(E.waste__incineration): (approx(20.0), approx(40.0), 2),
            int(E.commuting__public_transport): (approx(32.0), approx(160.0), 3),
            2000401: (approx(2.4), approx(8.0), 4),  # waste/recycling/paper leaf
        }
        assert 40000 not in rows and len(res.rows) == 4

    def test_student_fte_is_a_group_total(self, run, headcount_factors):
        res = run(D.student, headcount_factors(D.student)[:1], {"fte": 12})
        assert [(r[1], r[3]) for r in res.rows] == [(10001, approx(1200.0))]

    def test_no_factor_for_the_year_is_a_miss(self, run):
        res = run(D.member, [], {"fte": 1})
        assert res.rows == [] and res.missing == [1]

    def test_missing_fte_is_an_error(self, run, headcount_factors):
        res = run(D.member, headcount_factors(D.member), {"name": "x"})
        assert res.errors == [(1, "fte is missing")]


@pytest.fixture
def plane_factors(factor):  # type: ignore[no-untyped-def]
    bands = [("short_to_medium_haul", 0, 2500, {"economy": 0.2906, "business": 0.4471,
                                                "first": 0.2906}),
             ("medium_to_long_haul", 2500, 999999, {"economy": 0.1902, "business": 0.3930})]
    out, fid = [], 1
    for band, lo, hi, efs in bands:
        for cabin, ef in efs.items():
            out.append(factor(D.plane, fid, category=band, cabin_class=cabin,
                              ef_kg_co2eq_per_km=ef, rfi_adjustment=1.35, min_distance=lo,
                              max_distance=hi))
            fid += 1
    return out


class TestPlane:
    def test_worked_example_formula(self):
        assert formulas.plane_kg(506, 0.2906, 1.35) == approx(198.5, abs=0.01)

    def test_worked_example_through_the_engine_with_a_506_km_trip(self, run, plane_factors):
        # Two airports 411 km apart on the equator: 411 + 95 = 506 km per trip.
        lon = math.degrees(411 / 6371.0)
        refs = ReferenceData(airports={"AAA": (0.0, 0.0, "CH"), "BBB": (0.0, lon, "FR")},
                             stations={})
        res = run(D.plane, plane_factors, {"origin_iata": "aaa", "destination_iata": "BBB",
                                           "cabin_class": "economy", "number_of_trips": 1},
                  ref=refs)
        assert [(r[3], r[4]) for r in res.rows] == [(approx(198.5, abs=0.05), approx(506.0))]

    def test_gva_cdg_economy_uses_airport_coordinates(self, run, plane_factors):
        # airportsdata: great circle 407.7 km → 408 + 95 = 503 km per trip.
        res = run(D.plane, plane_factors,
                  {"origin_iata": "GVA", "destination_iata": "CDG", "cabin_class": "economy",
                   "number_of_trips": 1})
        assert res.rows == [(1, int(E.professional_travel__plane__eco), 3,
                             approx(503 * 0.2906 * 1.35), approx(503.0), 1)]

    def test_band_uses_per_trip_distance_and_kg_uses_total(self, run, plane_factors):
        res = run(D.plane, plane_factors,
                  {"origin_iata": "GVA", "destination_iata": "CDG", "cabin_class": "Economy",
                   "number_of_trips": 10})
        (row,) = res.rows
        assert row[5] == 1  # still the short-haul factor although 5030 km in total
        assert row[3] == approx(5030 * 0.2906 * 1.35)
        assert row[4] == approx(5030.0)  # additional_value: km without RFI

    @pytest.mark.parametrize(("cabin", "leaf", "fid", "ef"), [
        ("business", E.professional_travel__plane__business, 5, 0.3930),
        ("economy", E.professional_travel__plane__eco, 4, 0.1902),
    ])
    def test_long_haul_cabins(self, run, plane_factors, cabin, leaf, fid, ef):
        res = run(D.plane, plane_factors, {"origin_iata": "GVA", "destination_iata": "JFK",
                                           "cabin_class": cabin, "number_of_trips": 2})
        assert res.rows == [(1, int(leaf), 3, approx(2 * 6296 * ef * 1.35), approx(12592.0),
                             fid)]

    def test_first_class_leaf_and_band_miss(self, run, plane_factors):
        short = run(D.plane, plane_factors, {"origin_iata": "GVA", "destination_iata": "CDG",
                                             "cabin_class": "first"})
        assert short.rows[0][1] == int(E.professional_travel__plane__first)
        long = run(D.plane, plane_factors, {"origin_iata": "GVA", "destination_iata": "JFK",
                                            "cabin_class": "first"})
        assert long.rows == [] and long.missing == [1]  # no long-haul first-class band

    def test_unknown_cabin_and_unknown_airport_are_errors(self, run, plane_factors):
        res = run(D.plane, plane_factors,
                  {"origin_iata": "GVA", "destination_iata": "CDG", "cabin_class": "premium"},
                  {"origin_iata": "GVA", "destination_iata": "XXX", "cabin_class": "economy"})
        assert [e[0] for e in res.errors] == [1, 2]
        assert "cabin_class='premium'" in res.errors[0][1]
        assert res.errors[1][1] == "unknown airport 'XXX'"

    def test_rfi_defaults_to_one(self, run, factor):
        f = factor(D.plane, 9, category="any", cabin_class="eco", ef_kg_co2eq_per_km=0.1,
                   min_distance=0, max_distance=99999)
        res = run(D.plane, [f], {"origin_iata": "GVA", "destination_iata": "CDG",
                                 "cabin_class": "economy"})
        assert res.rows[0][3] == approx(50.3)


@pytest.fixture
def train_factors(factor):  # type: ignore[no-untyped-def]
    return [factor(D.train, 1, country_code="CH", ef_kg_co2eq_per_km=0.006),
            factor(D.train, 2, country_code="fr", ef_kg_co2eq_per_km=0.004),
            factor(D.train, 3, country_code="RoW", ef_kg_co2eq_per_km=0.03)]


class TestTrain:
    def test_swiss_trip_uses_ch_factor(self, run, train_factors):
        # Geneva → Lausanne: 50.8 km great circle × 1.2 = 61 km per trip.
        res = run(D.train, train_factors,
                  {"origin_name": "Geneva", "destination_name": "Lausanne",
                   "origin_country_code": "CH", "destination_country_code": "CH",
                   "number_of_trips": 3, "cabin_class": "second"})
        assert res.rows == [(1, int(E.professional_travel__train__class_2), 3,
                             approx(183 * 0.006), approx(183.0), 1)]

    def test_foreign_destination_then_foreign_origin(self, run, train_factors):
        out = {"origin_name": "Geneva", "destination_name": "Paris Gare de Lyon",
               "origin_country_code": "CH", "destination_country_code": "FR",
               "cabin_class": "first"}
        back = {**out, "origin_name": "Paris Gare de Lyon", "destination_name": "Geneva",
                "origin_country_code": "FR", "destination_country_code": "CH"}
        res = run(D.train, train_factors, out, back)
        assert [(r[1], r[5], r[4]) for r in res.rows] == [
            (int(E.professional_travel__train__class_1), 2, approx(489.0)),
            (int(E.professional_travel__train__class_1), 2, approx(489.0))]

    def test_country_without_factor_falls_back_to_row(self, run, train_factors):
        res = run(D.train, train_factors,
                  {"origin_name": "Zürich HB", "destination_name": "München Hbf",
                   "cabin_class": "2nd"})  # country codes from the station table
        assert [(r[5], r[3]) for r in res.rows] == [(3, approx(289 * 0.03))]

    def test_no_country_and_no_row_factor_is_a_miss(self, run, train_factors):
        res = run(D.train, train_factors[:1],
                  {"origin_name": "Zürich HB", "destination_name": "München Hbf",
                   "cabin_class": "second"})
        assert res.missing == [1]

    def test_unknown_station_and_unknown_class(self, run, train_factors):
        res = run(D.train, train_factors,
                  {"origin_name": "Geneva", "destination_name": "Atlantis",
                   "cabin_class": "second"},
                  {"origin_name": "Geneva", "destination_name": "Lausanne",
                   "cabin_class": "third"})
        assert res.errors[0] == (1, "unknown station 'Atlantis'")
        assert res.errors[1][0] == 2 and "cabin_class='third'" in res.errors[1][1]

    def test_stations_are_name_and_country(self, run, train_factors):
        # Two "Paris": the trip to the one in Texas is long and takes the RoW factor; the
        # trip to the one in France takes the FR factor. Without a country, never a guess.
        refs = ReferenceData.build(stations=[("Paris", 33.66, -95.55, "US")])
        trip = {"origin_name": "Geneva", "origin_country_code": "CH",
                "destination_name": "Paris", "cabin_class": "second"}
        res = run(D.train, train_factors, {**trip, "destination_country_code": "FR"},
                  {**trip, "destination_country_code": "US"}, trip, ref=refs)
        (fr, us) = res.rows
        assert (fr[0], fr[5], us[0], us[5]) == (1, 2, 2, 3)
        assert fr[4] < 600 < 8000 < us[4]
        assert res.errors == [(3, "unknown station 'Paris'")]
        assert refs.station("Paris") is None and refs.station("Paris", "us")[2] == "US"

    def test_uploaded_station_is_used(self, run, train_factors):
        refs = ReferenceData.build(stations=[("Atlantis", 46.5, 6.6, "CH")])
        res = run(D.train, train_factors, {"origin_name": "Lausanne",
                                           "destination_name": "atlantis",
                                           "cabin_class": "second"}, ref=refs)
        assert len(res.rows) == 1 and res.rows[0][5] == 1
