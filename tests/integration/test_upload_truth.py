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


def test_a_row_with_more_cells_than_the_header_is_a_row_error(
        equipment: TestClient, tokens: Tokens) -> None:
    # An unquoted decimal comma: 1,5 hours would shift into a column nobody named.
    body = (HEAD + "UA,it,I1,Laptop,Laptop,Standard,40,1,5\n"
            "UA,it,I2,Laptop,Laptop,Standard,40,2,,\n")
    job = _done(equipment, tokens, upload(equipment, "/v1/sync/data-entries/4", body,
                                          tokens.op, data_entry_type_id=11, **YEAR))
    assert job["result"] == "WARNING", job["status_message"]
    assert job["meta"]["processed"] == 1 and job["meta"]["skipped"] == 1
    (err,) = job["meta"]["row_errors"]
    assert err["row"] == 2 and "9 cells but the header names 8 columns" in err["reason"]
    with session_scope() as s:
        (data,) = s.execute(text("SELECT data FROM data_entries WHERE data_entry_type_id = 11"
                                 )).scalars()
    assert data["equipment_id"] == "I2" and data["standby_usage_hours_per_week"] == 2


def test_cli_allow_unknown_columns(equipment: TestClient, tokens: Tokens, tmp_path: Any
                                   ) -> None:
    from typer.testing import CliRunner

    from carbon_api.cli import app

    f = tmp_path / "it.csv"
    f.write_text(HEAD.replace("standby_usage_hours_per_week", "standby_usage_hours_per_wk")
                 + _rows("it", "Laptop", "Standard", 1))
    args = ["ingest", "data-entries", str(f), "--module", "4", "--det", "11", "--year", "2025"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code != 0
    assert "did you mean 'standby_usage_hours_per_week'?" in refused.stderr
    assert _entries_by_type() == {10: 6, 11: 4, 12: 3}
    ok = CliRunner().invoke(app, [*args, "--allow-unknown-columns", "--wait"])
    assert ok.exit_code == 0, (ok.stdout, ok.stderr)
    assert _entries_by_type() == {10: 6, 11: 1, 12: 3}
