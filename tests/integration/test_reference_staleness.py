"""A reference upload makes exactly the types whose formulas read it stale — stations →
train, building rooms → building, exchange rates → the spend types — for the years it
changes, with a reason naming the upload; every other type stays up to date. Real uploads
and recalculations on the test worker. Fails on the code before (reference uploads were no
input of the staleness status at all)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.status import year_status
from carbon_tasks import operations as ops

from .api_support import Tokens
from .helpers import UNITS_CSV, jobs_of, wait_pipeline

pytestmark = pytest.mark.integration
YEAR = 2025

# (module, type, factor CSV, entry CSV) of each type the test follows.
TYPES: dict[int, tuple[int, str, str]] = {
    D.train: (2, "country_code,ef_kg_co2eq_per_km\nCH,0.01\nRoW,0.03\n",
              "unit_institutional_id,origin_name,origin_country_code,destination_name,"
              "destination_country_code,number_of_trips,cabin_class\n"
              "UA,Geneva,CH,Lausanne,CH,2,second\n"),
    D.building: (3, "building_name,room_type,ef_kg_co2eq_per_kwh,heating_kwh_per_square_meter,"
                    "lighting_kwh_per_square_meter,energy_type\nBC,office,0.1,30,5,electric\n",
                 "unit_institutional_id,building_name,room_name,room_type\n"
                 "UA,BC,BC 1,office\n"),
    D.services: (5, "purchase_institutional_code,currency,ef_kg_co2eq_per_currency\n"
                    "12000000,eur,0.5\n",
                 "unit_institutional_id,purchase_institutional_code,total_spent_amount,"
                 "currency\nUA,12000000,1000,chf\n"),
    D.it: (4, "equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
              "Laptop,,100,10,0.1\n",
           "unit_institutional_id,equipment_id,name,equipment_class,"
           "active_usage_hours_per_week,standby_usage_hours_per_week\nUA,E1,L,Laptop,40,128\n"),
}


def _run(acc: Any, status: str = "SUCCESS") -> Any:
    p = wait_pipeline(acc.pipeline_id)
    assert p.status == status, [(j.job_type, j.result, j.status_message)
                                for j in jobs_of(acc.pipeline_id)]
    return jobs_of(acc.pipeline_id)


def _reference(kind: str, body: str) -> int:
    (job,) = _run(ops.start_upload(kind, body.encode(), created_by="alice"))
    return int(job.id)


def _stale() -> dict[int, str | None]:
    """Every followed type → its stale reason (None: up to date)."""
    with session_scope() as s:
        types = [t for m in year_status(s, YEAR) for t in m.data_entry_types]
    got = {t.data_entry_type_id: t.stale_reason for t in types if t.needs_recalculation}
    assert {t.data_entry_type_id for t in types} >= set(TYPES)
    return {det: got.get(det) for det in TYPES}


def _recalculate(det: int) -> int:
    jobs = _run(ops.trigger_recalculation(module=TYPES[det][0], det=det, year=YEAR,
                                          created_by="test"))
    return max(j.id for j in jobs if j.job_type == "emission_recalc")


def _reason(kind: str, job_id: int, recalc: int) -> str:
    with session_scope() as s:
        from carbon_domain.db.models import DataIngestionJob
        job = s.get(DataIngestionJob, job_id)
        assert job is not None and job.created_at is not None
        at = f"{job.created_at:%Y-%m-%d %H:%M}"
    return f"{kind} upload #{job_id} of {at} by alice is newer than recalculation #{recalc}"


def test_each_reference_kind_makes_exactly_its_types_stale(api: TestClient, tokens: Tokens
                                                           ) -> None:
    _run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="test"))
    recalc: dict[int, int] = {}
    for det, (module, factors, entries) in TYPES.items():
        _run(ops.start_upload("factors", factors.encode(), module=module, det=det, year=YEAR,
                              created_by="test"))
        jobs = _run(ops.start_upload("data-entries", entries.encode(), module=module, det=det,
                                     year=YEAR, created_by="test"))
        recalc[det] = max(j.id for j in jobs if j.job_type == "emission_recalc")
    assert _stale() == dict.fromkeys(TYPES)

    job = _reference("stations", "name,latitude,longitude,country_code\nNyon,46.38,6.24,CH\n")
    assert _stale() == {**dict.fromkeys(TYPES),
                        D.train: _reason("stations", job, recalc[D.train])}
    # The API reads the same state: the reason and the input job named by its kind.
    r = api.get("/v1/sync/recalculation-status", params={"year": YEAR}, headers=tokens.view)
    assert r.status_code == 200, r.text
    (train,) = [t for m in r.json() for t in m["data_entry_types"]
                if t["data_entry_type_id"] == D.train]
    assert train["stale_reason"] == _reason("stations", job, recalc[D.train])
    assert (train["last_input_job"]["kind"], train["last_input_job"]["label"]) == (
        "reference_ingest", "stations upload")
    recalc[D.train] = _recalculate(D.train)
    assert _stale() == dict.fromkeys(TYPES)

    job = _reference("building-rooms", "building_name,room_name,room_type,"
                                       "room_surface_square_meter\nBC,BC 1,office,20\n")
    assert _stale() == {**dict.fromkeys(TYPES),
                        D.building: _reason("building-rooms", job, recalc[D.building])}
    recalc[D.building] = _recalculate(D.building)
    assert _stale() == dict.fromkeys(TYPES)

    # A 2019 rate does not change 2025's numbers (2025 has its own shipped CHF rate).
    _reference("exchange-rates", "year,currency,rate_to_eur\n2019,chf,0.9\n")
    assert _stale() == dict.fromkeys(TYPES)
    job = _reference("exchange-rates", "year,currency,rate_to_eur\n2019,chf,0.9\n2025,chf,1.1\n")
    assert _stale() == {**dict.fromkeys(TYPES),
                        D.services: _reason("exchange-rates", job, recalc[D.services])}
    recalc[D.services] = _recalculate(D.services)
    assert _stale() == dict.fromkeys(TYPES)
