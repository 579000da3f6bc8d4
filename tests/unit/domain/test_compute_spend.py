"""Hand-computed emissions for purchases (60–67), external clouds (40) and AI (41)."""

from __future__ import annotations

import pytest

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.emission_types import EmissionType as E

approx = pytest.approx
CHF_2024 = 1 / 0.9526  # EUR per CHF, shipped 2024 default
USD_2024 = 1 / 1.0824

PURCHASE_LEAVES = [
    (D.scientific_equipment, E.purchases__scientific_equipment),
    (D.it_equipment, E.purchases__it_equipment),
    (D.consumable_accessories, E.purchases__consumable_accessories),
    (D.biological_chemical_gaseous_product, E.purchases__biological_chemical_gaseous),
    (D.services, E.purchases__services),
    (D.vehicles, E.purchases__vehicles),
    (D.other_purchases, E.purchases__other),
]


def code(factor, det, fid, inst, add=None, ef=0.5, currency="eur"):  # type: ignore[no-untyped-def]
    return factor(det, fid, purchase_institutional_code=inst, purchase_additional_code=add,
                  currency=currency, ef_kg_co2eq_per_currency=ef)


class TestPurchases:
    @pytest.mark.parametrize(("det", "leaf"), PURCHASE_LEAVES)
    def test_spend_in_chf_by_default_converted_to_eur(self, run, factor, det, leaf):
        res = run(det, [code(factor, det, 1, "43000000")],
                  {"purchase_institutional_code": "43000000", "total_spent_amount": 100})
        assert res.rows == [(1, int(leaf), 3, approx(100 * CHF_2024 * 0.5), None, 1)]

    def test_non_eur_factor_currency_is_converted_per_eur(self, run, factor):
        f = code(factor, D.services, 1, "A", currency="usd")
        res = run(D.services, [f], {"purchase_institutional_code": "A",
                                    "total_spent_amount": 100, "currency": "eur"})
        # 0.5 kg per USD; 100 EUR = 108.24 USD → 54.12 kg
        assert res.rows[0][3] == approx(100 * 0.5 / USD_2024)

    def test_additional_code_match_wins(self, run, factor):
        det = D.biological_chemical_gaseous_product
        fs = [code(factor, det, 1, "51100000", "LA05", ef=0.41),
              code(factor, det, 2, "51100000", None, ef=0.455)]
        res = run(det, fs,
                  {"purchase_institutional_code": "51100000",
                   "purchase_additional_code": "la05", "total_spent_amount": 10,
                   "currency": "EUR"},
                  {"purchase_institutional_code": "51100000",
                   "purchase_additional_code": "ZZ99", "total_spent_amount": 10,
                   "currency": "eur"})
        assert [(r[5], r[3]) for r in res.rows] == [(1, approx(4.1)), (2, approx(4.55))]

    def test_additional_code_shared_by_two_codes_is_broken_by_institutional_code(
            self, run, factor):
        fs = [code(factor, D.services, 1, "A", "X1", ef=1),
              code(factor, D.services, 2, "B", "X1", ef=2)]
        res = run(D.services, fs, {"purchase_institutional_code": "B",
                                   "purchase_additional_code": "X1",
                                   "total_spent_amount": 1, "currency": "eur"})
        assert res.rows[0][5] == 2

    def test_single_row_for_the_code_wins_even_with_another_additional_code(self, run, factor):
        res = run(D.services, [code(factor, D.services, 7, "C", "AA66")],
                  {"purchase_institutional_code": "c", "total_spent_amount": 2,
                   "currency": "eur"})
        assert res.rows[0][5] == 7

    def test_several_rows_without_average_is_ambiguous(self, run, factor):
        fs = [code(factor, D.services, 1, "H", "XC13"), code(factor, D.services, 2, "H", "XC14")]
        res = run(D.services, fs, {"purchase_institutional_code": "H",
                                   "total_spent_amount": 1})
        assert res.missing == [1] and res.missing_reasons[1].startswith("ambiguous")


class TestAdditionalPurchases:
    def test_liquid_nitrogen_is_ln2_scope_1(self, run, factor):
        f = factor(D.additional_purchases, 1, name="LN2", ef_kg_co2eq_per_kg=0.2)
        res = run(D.additional_purchases, [f],
                  {"name": "Liquid Nitrogen", "unit": "l", "annual_consumption": 1000,
                   "coef_to_kg": 0.8})
        assert res.rows == [(1, int(E.purchases__additional__ln2), 1, approx(160.0), None, 1)]

    def test_other_liquid_falls_back_to_the_additional_node(self, run, factor):
        f = factor(D.additional_purchases, 2, name="Liquid helium", ef_kg_co2eq_per_kg=3)
        res = run(D.additional_purchases, [f], {"name": "liquid  HELIUM",
                                                "annual_consumption": 10})
        assert res.rows == [(1, int(E.purchases__additional), 1, approx(30.0), None, 2)]


class TestExternalClouds:
    @pytest.fixture
    def clouds(self, factor):  # type: ignore[no-untyped-def]
        return [factor(D.external_clouds, fid, service_type=st, provider="AWS",
                       ef_kg_co2eq_per_currency=0.5, currency="eur")
                for fid, st in ((1, "compute"), (2, "storage"), (3, "virtualisation"))]

    @pytest.mark.parametrize(("service", "leaf", "fid"), [
        ("compute", E.external__clouds__calcul, 1),
        ("storage", E.external__clouds__stockage, 2),
        ("virtualization", E.external__clouds__virtualisation, 3),
    ])
    def test_service_type_leaf(self, run, clouds, service, leaf, fid):
        res = run(D.external_clouds, clouds,
                  {"service_type": service, "provider": "aws", "spent_amount": 200})
        assert res.rows == [(1, int(leaf), 3, approx(100.0), None, fid)]

    def test_spend_in_chf(self, run, clouds):
        res = run(D.external_clouds, clouds, {"service_type": "compute", "provider": "AWS",
                                              "spent_amount": 100, "currency": "chf"})
        assert res.rows[0][3] == approx(100 * CHF_2024 * 0.5)

    def test_unknown_service_is_an_error_and_unknown_provider_a_miss(self, run, clouds):
        res = run(D.external_clouds, clouds,
                  {"service_type": "quantum", "provider": "AWS", "spent_amount": 1},
                  {"service_type": "compute", "provider": "OVH", "spent_amount": 1})
        assert res.errors[0][0] == 1 and res.missing == [2]


class TestExternalAI:
    @pytest.fixture
    def ai(self, factor):  # type: ignore[no-untyped-def]
        providers = ["ChatGPT (OpenAI)", "Gemini (Google)", "Mistral AI", "Claude (Anthropic)",
                     "Copilot (Microsoft)", "Cohere"]
        return [factor(D.external_ai, i, provider=p, usage_type="text",
                       ef_kg_co2eq_per_request=2.0) for i, p in enumerate(providers, 1)]

    @pytest.mark.parametrize(("provider", "bucket", "fte", "leaf", "kg"), [
        ("ChatGPT (OpenAI)", "gt_100", 0.8, E.external__ai__provider_openai,
         100 * 5 * 46 * 0.8 * 2 / 1000),
        ("Gemini (Google)", "1_5", 0.8, E.external__ai__provider_google, 3 * 230 * 0.8 * 0.002),
        ("Mistral AI", "5_20", 3, E.external__ai__provider_mistral_ai, 12.5 * 230 * 3 * 0.002),
        ("Claude (Anthropic)", "20_100", 5, E.external__ai__provider_anthropic,
         60 * 230 * 5 * 0.002),
        ("Copilot (Microsoft)", "1_5", 1, E.external__ai__provider_others, 3 * 230 * 0.002),
        ("Cohere", "1_5", 1, E.external__ai__provider_cohere, 3 * 230 * 0.002),
    ])
    def test_one_row_on_the_providers_leaf(self, run, ai, provider, bucket, fte, leaf, kg):
        res = run(D.external_ai, ai, {"provider": provider, "usage_type": "text",
                                      "requests_per_user_per_day": bucket, "fte_count": fte})
        assert [(r[1], r[3]) for r in res.rows] == [(int(leaf), approx(kg))]

    def test_usage_type_without_factor_falls_back_to_a_factor_without_usage(self, run, factor):
        f = factor(D.external_ai, 1, provider="Other", ef_kg_co2eq_per_request=1)
        res = run(D.external_ai, [f], {"provider": "other", "usage_type": "image",
                                       "requests_per_user_per_day": "1_5", "fte_count": 1})
        assert res.rows[0][1] == int(E.external__ai__provider_others)
