"""Factor matching: normalised keys, fallbacks, and key order never changing a match."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.matching import FactorIndex, FactorRecord

WORDS = st.sampled_from(["Laptop", "laptop ", "Monitor", "Spectrometers", "A", "B", "", None])
CODES = st.sampled_from(["A", "B", "12000000", "LA05", "la05", "", None])


def scrambled(d: dict, rnd: random.Random) -> dict:  # type: ignore[type-arg]
    items = list(d.items())
    rnd.shuffle(items)
    return dict(items)


def _records(classifications: list[dict]) -> list[FactorRecord]:  # type: ignore[type-arg]
    return [FactorRecord(i, 80200, c, {"active_power_w": 1.0, "ef_kg_co2eq_per_kwh": 1.0})
            for i, c in enumerate(classifications, 1)]


@settings(max_examples=200, deadline=None)
@given(
    factors=st.lists(st.fixed_dictionaries({"equipment_class": WORDS, "sub_class": WORDS}),
                     max_size=8),
    entries=st.lists(st.fixed_dictionaries({"equipment_class": WORDS, "sub_class": WORDS,
                                            "name": WORDS}), min_size=1, max_size=5),
    seed=st.integers(0, 10_000),
)
def test_scrambled_classification_key_order_never_changes_a_match(factors, entries, seed):
    rnd = random.Random(seed)
    straight = FactorIndex(D.it, _records(factors), year=2024)
    shuffled = FactorIndex(D.it, list(reversed([
        FactorRecord(r.id, r.emission_type_id, scrambled(r.classification, rnd), r.values)
        for r in _records(factors)])), year=2024)
    for entry in entries:
        a, b = straight.match(entry), shuffled.match(scrambled(entry, rnd))
        assert (a[0].id if a[0] else None, a[1]) == (b[0].id if b[0] else None, b[1])


@settings(max_examples=200, deadline=None)
@given(
    factors=st.lists(st.fixed_dictionaries({"purchase_institutional_code": CODES,
                                            "purchase_additional_code": CODES}), max_size=8),
    entry=st.fixed_dictionaries({"purchase_institutional_code": CODES,
                                 "purchase_additional_code": CODES}),
    seed=st.integers(0, 10_000),
)
def test_purchase_match_is_order_independent(factors, entry, seed):
    rnd = random.Random(seed)
    recs = [FactorRecord(i, 90300, c, {"ef_kg_co2eq_per_currency": 0.5})
            for i, c in enumerate(factors, 1)]
    a = FactorIndex(D.it_equipment, recs, year=2024).match(entry)
    b = FactorIndex(D.it_equipment, [
        FactorRecord(r.id, r.emission_type_id, scrambled(r.classification, rnd), r.values)
        for r in reversed(recs)], year=2024).match(scrambled(entry, rnd))
    assert (a[0].id if a[0] else None) == (b[0].id if b[0] else None)


def test_plane_band_is_half_open():
    recs = [FactorRecord(1, 50203, {"category": "s", "cabin_class": "economy"},
                         {"ef_kg_co2eq_per_km": 1.0, "min_distance": 0, "max_distance": 2500}),
            FactorRecord(2, 50203, {"category": "l", "cabin_class": "economy"},
                         {"ef_kg_co2eq_per_km": 2.0, "min_distance": 2500,
                          "max_distance": 999999})]
    index = FactorIndex(D.plane, recs, year=2024)
    assert index.plane_band("economy", 2499.0) == (1, 1.0, 1.0)
    assert index.plane_band("economy", 2500.0) == (2, 2.0, 1.0)
    assert index.plane_band("business", 100.0) is None


def test_train_country_with_row_fallback():
    recs = [FactorRecord(1, 50100, {"country_code": "CH"}, {"ef_kg_co2eq_per_km": 0.1}),
            FactorRecord(2, 50100, {"country_code": "RoW"}, {"ef_kg_co2eq_per_km": 0.2})]
    index = FactorIndex(D.train, recs, year=2024)
    assert index.train_country("CH") == (1, 0.1)
    assert index.train_country("IT") == (2, 0.2)
    assert FactorIndex(D.train, recs[:1]).train_country("IT") is None


def test_headcount_factors_outside_headcount_or_unusable_are_skipped():
    recs = [FactorRecord(1, 10001, {}, {"number_of_unit_per_fte": 1, "ef_kg_co2eq_per_unit": 1}),
            FactorRecord(2, 80200, {}, {"number_of_unit_per_fte": 1, "ef_kg_co2eq_per_unit": 1}),
            FactorRecord(3, 10002, {}, {"number_of_unit_per_fte": "x"})]
    assert [h[0] for h in FactorIndex(D.member, recs).headcount()] == [1]
