"""A slice recalculated down to zero entries leaves zero in the module statistics.

A full recalculation of an empty slice plans no chunk, so the chunks' partial sums have
nothing to fold: the slice's old sums must be dropped, not kept (the module then showed the
removed entries' kg and count as up to date). Checked through the real services in-process,
then end to end over HTTP with a worker."""

from __future__ import annotations

import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.slices import clear_caches
from tests.conftest import truncate_all
from tests.integration import incremental_support as u

from .api_support import Tokens, upload, wait_job, wait_pipeline
from .helpers import UNITS_CSV

pytestmark = pytest.mark.integration


def _remove_entries(det: int) -> None:
    with session_scope() as s:
        s.execute(text("DELETE FROM data_entries WHERE data_entry_type_id = :d"), {"d": det})


def test_full_recalculation_of_an_emptied_slice_zeroes_its_sums(db: str) -> None:
    rng = random.Random(3)
    truncate_all()
    clear_caches()
    u.setup_universe(rng, 20)
    it_specs = {i: (s, u.factor_values(s, rng))
                for i, s in enumerate(u.factor_universe()) if s.det == D.it}
    u.write_factors(u.input_job(JobType.factor_ingest, int(D.it)), int(D.it), it_specs, [])
    u.recalculate(D.it, JobType.emission_recalc)
    before = [st for _, st in u.stats_of(D.it)]
    assert sum(st["entry_count"] for st in before) == 20 and any(st["total"] for st in before)
    # The entries go (an upload replaced them, a revert withdrew them), then the type is
    # recalculated: no chunk runs.
    u.input_job(JobType.csv_ingest, int(D.it))
    _remove_entries(int(D.it))
    scope = u.recalculate(D.it, JobType.emission_recalc)
    assert scope["incremental"] is False
    u.folded_totals_match_rows(D.it)
    for _, st in u.stats_of(D.it):
        assert st["entry_count"] == 0 and st["total"] == 0 and st["by_emission_type"] == {}


# -- end to end ------------------------------------------------------------------------------

FACTORS = ("equipment_category,equipment_class,sub_class,active_power_w,standby_power_w,"
           "ef_kg_co2eq_per_kwh\n"
           "scientific,Spectrometers,,200,20,0.1\n"
           "it,Laptop,Standard,100,10,0.1\n"
           "other,Lab Freezer,,300,300,0.1\n")
ENTRIES = ("unit_institutional_id,equipment_category,equipment_id,name,equipment_class,"
           "sub_class,active_usage_hours_per_week,standby_usage_hours_per_week\n"
           "UA,scientific,S1,Spectro,Spectrometers,,40,100\n"
           "UA,scientific,S2,Spectro,Spectrometers,,20,100\n"
           "UA,it,I1,Laptop,Laptop,Standard,40,100\n"
           "UA,other,O1,Freezer,Lab Freezer,,168,0\n")


def _done(client: TestClient, tokens: Tokens, r: Any) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job_id"], tokens.op)
    wait_pipeline(client, r.json()["pipeline_id"], tokens.op)
    return job


def _stats(client: TestClient, tokens: Tokens) -> dict[str, Any]:
    (report,) = client.get("/v1/reports", params={"year": 2025, "unit": "LAB-A"},
                           headers=tokens.view).json()["items"]
    r = client.get(f"/v1/reports/{report['id']}/modules/4/stats", headers=tokens.view)
    assert r.status_code == 200, r.text
    stats: dict[str, Any] = r.json()["stats"]
    return stats


def _rows_of_lab_a() -> tuple[int, float]:
    with session_scope() as s:
        n, kg = s.execute(text(
            "SELECT count(DISTINCT d.id), coalesce(sum(e.kg_co2eq), 0) FROM data_entries d"
            " JOIN carbon_report_modules m ON m.id = d.carbon_report_module_id"
            " JOIN carbon_reports r ON r.id = m.carbon_report_id JOIN units u ON u.id = r.unit_id"
            " LEFT JOIN data_entry_emissions e ON e.data_entry_id = d.id"
            " WHERE u.institutional_code = 'LAB-A' AND m.module_type_id = 4 AND d.year = 2025"
        )).one()
    return int(n), float(kg)


def test_stats_equal_the_rows_after_a_type_is_emptied_and_recalculated(
        api: TestClient, tokens: Tokens) -> None:
    _done(api, tokens, upload(api, "/v1/sync/units", UNITS_CSV, tokens.op, year=2025))
    _done(api, tokens, upload(api, "/v1/sync/factors/4", FACTORS, tokens.op, year=2025))
    _done(api, tokens, upload(api, "/v1/sync/data-entries/4", ENTRIES, tokens.op, year=2025))
    full = _stats(api, tokens)
    assert full["entry_count"] == 4 and full["total"] > 0
    _remove_entries(int(D.scientific))
    r = api.post("/v1/sync/recalculate-emissions/4/10", params={"year": 2025},
                 headers=tokens.op)
    job = _done(api, tokens, r)
    assert job["result"] == "SUCCESS", job["status_message"]
    n, kg = _rows_of_lab_a()
    st = _stats(api, tokens)
    assert (n, st["entry_count"]) == (2, 2)
    assert st["total"] == pytest.approx(kg, rel=1e-9) and st["total"] < full["total"]
