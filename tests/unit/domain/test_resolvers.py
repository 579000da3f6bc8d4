"""Emission type resolution per data entry type: every dynamic case and every fallback."""

from __future__ import annotations

import logging

import pytest

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.emission_types import STORABLE
from carbon_domain.emission_types import EmissionType as E
from carbon_domain.resolvers import RESOLVERS, resolve_emission_types


def one(det: D, **data: object) -> int | None:
    types = resolve_emission_types(det, data)
    return None if types is None else (types[0] if len(types) == 1 else -1)


@pytest.mark.parametrize(("det", "types"), [
    (D.member, [10000, 20000, 30000]), (D.student, [10000, 20000, 30000]),
    (D.scientific, [80100]), (D.it, [80200]), (D.other, [80300]),
    (D.building_embodied_energy, [60300]),
    (D.scientific_equipment, [90200]), (D.it_equipment, [90300]),
    (D.consumable_accessories, [90400]), (D.biological_chemical_gaseous_product, [90500]),
    (D.services, [90600]), (D.vehicles, [90700]), (D.other_purchases, [90800]),
])
def test_static_types(det, types):
    assert resolve_emission_types(det, {}) == types


@pytest.mark.parametrize(("cabin", "leaf"), [
    ("first", E.professional_travel__plane__first),
    ("Business", E.professional_travel__plane__business),
    ("economy", E.professional_travel__plane__eco), ("eco", E.professional_travel__plane__eco),
])
def test_plane_cabins(cabin, leaf):
    assert one(D.plane, cabin_class=cabin) == leaf


@pytest.mark.parametrize(("cabin", "leaf"), [
    ("first", 50101), ("class_1", 50101), ("1st", 50101),
    ("second", 50102), ("Second", 50102), ("class_2", 50102), ("2", 50102),
])
def test_train_cabins(cabin, leaf):
    assert one(D.train, cabin_class=cabin) == leaf


@pytest.mark.parametrize(("det", "data"), [
    (D.plane, {"cabin_class": "premium_economy"}), (D.plane, {}),
    (D.train, {"cabin_class": "third"}), (D.external_clouds, {"service_type": "quantum"}),
    (D.process_emissions, {"category": "xenon"}), (D.process_emissions, {}),
])
def test_unknown_values_resolve_to_none(det, data):
    assert resolve_emission_types(det, data) is None


def test_an_unknown_value_is_logged_once(caplog):
    # A Celery worker started earlier in the session lowers the root logger's level.
    caplog.set_level(logging.WARNING, logger="carbon_domain.resolvers")
    for _ in range(3):
        assert resolve_emission_types(D.plane, {"cabin_class": "log-once-cabin"}) is None
    logged = [r for r in caplog.records if "log-once-cabin" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelname == "WARNING"


def test_rooms_known_type_gives_five_leaves_else_five_nodes():
    assert resolve_emission_types(D.building, {"room_type": "Laboratories"}) == [
        6010102, 6010202, 6010302, 6010402, 6010502]
    assert resolve_emission_types(D.building, {"room_type": "misc"}) == [
        6010106, 6010206, 6010306, 6010406, 6010506]
    for data in ({"room_type": "greenhouse"}, {}, {"room_type": None}):
        assert resolve_emission_types(D.building, data) == [60101, 60102, 60103, 60104, 60105]


@pytest.mark.parametrize(("name", "leaf"), [
    ("Natural gas", 60201), ("natural_gas", 60201), ("Heating oil", 60202),
    ("biomethane", 60203), ("Pellets", 60204), ("forest chips", 60205), ("wood_logs", 60206),
    ("propane", 60200), ("", 60200),
])
def test_combustion_fuels_with_node_fallback(name, leaf):
    assert one(D.energy_combustion, name=name) == leaf


@pytest.mark.parametrize(("service", "leaf"), [
    ("virtualisation", 110101), ("Virtualization", 110101), ("compute", 110102),
    ("calcul", 110102), ("storage", 110103), ("stockage", 110103),
])
def test_cloud_service_types(service, leaf):
    assert one(D.external_clouds, service_type=service) == leaf


@pytest.mark.parametrize(("provider", "leaf"), [
    ("ChatGPT (OpenAI)", E.external__ai__provider_openai),
    ("Gemini (Google)", E.external__ai__provider_google),
    ("Mistral AI", E.external__ai__provider_mistral_ai),
    ("Claude (Anthropic)", E.external__ai__provider_anthropic),
    ("cohere", E.external__ai__provider_cohere),
    ("Copilot (Microsoft)", E.external__ai__provider_others),
    ("Copilot (GitHub)", E.external__ai__provider_others),
    ("Other", E.external__ai__provider_others), ("", E.external__ai__provider_others),
])
def test_ai_provider_gives_exactly_one_leaf(provider, leaf):
    assert one(D.external_ai, provider=provider) == leaf


@pytest.mark.parametrize(("category", "leaf"), [
    ("CH4", 70100), ("co2", 70200), ("N2O", 70300), ("Refrigerant", 70400),
    ("refrigerants", 70400),
])
def test_process_gases(category, leaf):
    assert one(D.process_emissions, category=category) == leaf


def test_process_kind_is_read_when_category_is_absent():
    assert one(D.process_emissions, kind="ch4") == 70100


@pytest.mark.parametrize(("name", "leaf"), [
    ("Liquid Nitrogen", 90901), ("LN2", 90901), ("liquid-nitrogen", 90901),
    ("Azote liquide", 90901), ("Liquid helium", 90900), ("", 90900),
])
def test_additional_purchases_ln2_or_node(name, leaf):
    assert one(D.additional_purchases, name=name) == leaf


@pytest.mark.parametrize(("name", "leaf"), [("SCITAS", 100300), ("rcp", 100300),
                                            ("CIBM", 100100), (None, 100100)])
def test_research_facility_name(name, leaf):
    assert one(D.research_facilities, researchfacility_name=name) == leaf


@pytest.mark.parametrize(("kind", "leaf"), [("mice", 10020001), ("Mouse", 10020001),
                                            ("fish", 10020002), ("rats", 100200),
                                            (None, 100200)])
def test_animal_facility_type(kind, leaf):
    assert one(D.mice_and_fish_animal_facilities, researchfacility_type=kind) == leaf


def test_every_resolved_type_is_storable():
    samples = [{}, {"cabin_class": "first"}, {"cabin_class": "second"}, {"room_type": "office"},
               {"name": "propane"}, {"service_type": "compute"}, {"provider": "x"},
               {"category": "co2"}, {"name": "ln2"}, {"researchfacility_type": "fish"}]
    for det, resolver in RESOLVERS.items():
        for data in samples:
            for t in resolver(data) or ():
                assert t in STORABLE, (det, data, t)


def test_registry_is_a_dict_of_functions_not_a_chain():
    assert set(RESOLVERS) == {int(d) for d in D}
    assert all(callable(fn) for fn in RESOLVERS.values())
