"""Uploads never lose data silently, through HTTP with a real worker: a module-wide data
entry file replaces only the types it has usable rows of; a misspelt column is refused
(400, nothing written) unless unknown columns are allowed, and ignored columns lead the
job's message; a row with more cells than the header is a row error."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from carbon_domain.db.session import session_scope

from .api_support import Tokens, upload, wait_job, wait_pipeline
from .helpers import UNITS_CSV

pytestmark = pytest.mark.integration

YEAR = {"year": 2025}
FACTORS = ("equipment_category,equipment_class,sub_class,active_power_w,standby_power_w,"
           "ef_kg_co2eq_per_kwh\n"
           "scientific,Spectrometers,,200,20,0.1\n"
           "it,Laptop,Standard,100,10,0.1\n"
           "other,Lab Freezer,,300,300,0.1\n")
HEAD = ("unit_institutional_id,equipment_category,equipment_id,name,equipment_class,"
        "sub_class,active_usage_hours_per_week,standby_usage_hours_per_week\n")


def _rows(cat: str, cls: str, sub: str, n: int) -> str:
    return "".join(f"UA,{cat},{cat[:1].upper()}{i},Item {i},{cls},{sub},40,100\n"
                   for i in range(n))


def _done(client: TestClient, tokens: Tokens, r: Any) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job_id"], tokens.op)
    wait_pipeline(client, r.json()["pipeline_id"], tokens.op)
    return job


def _entries_by_type() -> dict[int, int]:
    with session_scope() as s:
        return {int(d): int(n) for d, n in s.execute(text(
            "SELECT data_entry_type_id, count(*) FROM data_entries GROUP BY 1"))}


@pytest.fixture
def equipment(api: TestClient, tokens: Tokens) -> TestClient:
    _done(api, tokens, upload(api, "/v1/sync/units", UNITS_CSV, tokens.op, **YEAR))
    _done(api, tokens, upload(api, "/v1/sync/factors/4", FACTORS, tokens.op, **YEAR))
    body = HEAD + _rows("scientific", "Spectrometers", "", 6) + _rows(
        "it", "Laptop", "Standard", 4) + _rows("other", "Lab Freezer", "", 3)
    _done(api, tokens, upload(api, "/v1/sync/data-entries/4", body, tokens.op, **YEAR))
    assert _entries_by_type() == {10: 6, 11: 4, 12: 3}
    return api


def test_module_wide_upload_replaces_only_the_types_it_loaded(
        equipment: TestClient, tokens: Tokens) -> None:
    body = HEAD + _rows("it", "Laptop", "Standard", 2) + (
        "UA,scientific,S9,Broken,Spectrometers,,forty,100\n")
    job = _done(equipment, tokens, upload(equipment, "/v1/sync/data-entries/4", body,
                                          tokens.op, **YEAR))
    assert job["result"] == "WARNING", job["status_message"]
    assert job["meta"]["replaced"] == 4
    assert job["meta"]["kept_data_entry_type_ids"] == [10, 12]
    assert "scientific, other kept as they were" in job["status_message"]
    assert _entries_by_type() == {10: 6, 11: 2, 12: 3}
