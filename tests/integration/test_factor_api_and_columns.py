"""GET /v1/factors (live / retired factors), the factor upload's `mode`, and unused CSV
columns reported with the nearest expected name (issue 11 items 1 and 7), through HTTP with
a real worker. Each test fails on the code before issue 11 (no route, no `mode`, unused
columns silently dropped with a SUCCESS result)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .api_support import Tokens, row_counts, upload, wait_job, wait_pipeline
from .helpers import UNITS_CSV

pytestmark = pytest.mark.integration

IT = {"year": 2025, "data_entry_type_id": 11}
F_HEADER = "equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
V1 = F_HEADER + "Laptop,Standard,100,10,0.1\nDesktop,,200,20,0.1\n"
V2 = F_HEADER + "Desktop,,200,20,0.2\n"


def _done(client: TestClient, tokens: Tokens, r: Any) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    acc = r.json()
    job = wait_job(client, acc["job_id"], tokens.op)
    wait_pipeline(client, acc["pipeline_id"], tokens.op)
    return job


def _list(client: TestClient, tokens: Tokens, **params: Any) -> dict[str, Any]:
    r = client.get("/v1/factors", params=params, headers=tokens.view)
    assert r.status_code == 200, r.text
    return r.json()


def test_list_factors_with_status(api: TestClient, tokens: Tokens) -> None:
    j1 = _done(api, tokens, upload(api, "/v1/sync/factors/4", V1, tokens.op, **IT))
    assert (j1["meta"]["factors_inserted"], j1["meta"]["factors_retired"]) == (2, 0)
    j2 = _done(api, tokens, upload(api, "/v1/sync/factors/4", V2, tokens.op, **IT))
    assert j2["status_message"] == (
        "Success: 1 factors: 0 inserted, 1 updated, 0 unchanged, 1 retired")

    live = _list(api, tokens, module_type_id=4, data_entry_type_id=11, year=2025)
    assert live["total"] == 1
    (desktop,) = live["items"]
    assert desktop["classification"] == {"equipment_class": "Desktop", "sub_class": None}
    assert desktop["status"] == "live" and desktop["values"]["ef_kg_co2eq_per_kwh"] == 0.2
    assert desktop["emission_type_id"] == 80200
    assert desktop["emission_type_path"] == "equipment__it"
    assert desktop["changed_by_job_id"] == j2["id"] and desktop["retired_at"] is None

    every = _list(api, tokens, module_type_id=4, year=2025, include_retired=True)
    assert every["total"] == 2
    laptop = next(f for f in every["items"] if f["status"] == "retired")
    assert laptop["classification"]["equipment_class"] == "Laptop"
    assert laptop["retired_by_job_id"] == laptop["changed_by_job_id"] == j2["id"]
    assert laptop["retired_at"] is not None and laptop["id"] < desktop["id"] + 10
    # Paging: limit/offset, or a 1-based page.
    first = _list(api, tokens, include_retired=True, limit=1)
    second = _list(api, tokens, include_retired=True, limit=1, page=2)
    assert first["total"] == second["total"] == 2 and second["offset"] == 1
    assert first["items"][0]["id"] != second["items"][0]["id"]
    assert _list(api, tokens, year=2024)["total"] == 0
    assert _list(api, tokens, module_type_id=2)["total"] == 0


@pytest.mark.parametrize("params, fragment", [
    ({"module_type_id": 2, "data_entry_type_id": 11}, "does not belong to module"),
    ({"module_type_id": 99}, "module_type_id"),
    ({"data_entry_type_id": 999}, "data_entry_type_id"),
    ({"year": 1800}, "year"),
    ({"include_retired": "perhaps"}, "include_retired"),
    ({"limit": 0}, "limit"),
])
def test_list_factors_bad_query_is_422(api: TestClient, tokens: Tokens,
                                       params: dict[str, Any], fragment: str) -> None:
    r = api.get("/v1/factors", params=params, headers=tokens.view)
    assert r.status_code == 422, r.text
    assert fragment in r.text


def test_list_factors_needs_a_token(api: TestClient) -> None:
    assert api.get("/v1/factors").status_code == 401


def test_upload_mode_merge_and_bad_mode(api: TestClient, tokens: Tokens) -> None:
    _done(api, tokens, upload(api, "/v1/sync/factors/4", V1, tokens.op, **IT))
    bad = upload(api, "/v1/sync/factors/4", V2, tokens.op, mode="append", **IT)
    assert bad.status_code == 422 and "mode" in bad.text
    job = _done(api, tokens, upload(api, "/v1/sync/factors/4", V2, tokens.op, mode="merge",
                                    **IT))
    assert job["meta"]["mode"] == "merge" and job["meta"]["factors_retired"] == 0
    assert _list(api, tokens, data_entry_type_id=11, include_retired=True)["total"] == 2
    assert all(f["status"] == "live" for f in _list(api, tokens)["items"])


def test_misspelt_factor_column_is_refused_unless_allowed(api: TestClient, tokens: Tokens
                                                          ) -> None:
    body = ("equipment_class,subclass,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh,"
            "comment\nLaptop,Standard,100,10,0.1,bought 2024\n")
    before = row_counts()
    refused = upload(api, "/v1/sync/factors/4", body, tokens.op, **IT)
    assert refused.status_code == 400, refused.text
    assert "'subclass' (did you mean 'sub_class'?)" in refused.json()["detail"]
    assert "comment" not in refused.json()["detail"]  # not a misspelling: only reported
    assert row_counts() == before
    job = _done(api, tokens, upload(api, "/v1/sync/factors/4", body, tokens.op,
                                    allow_unknown_columns="true", **IT))
    assert job["result"] == "WARNING", job["status_message"]
    assert job["meta"]["unknown_columns"] == [
        {"column": "subclass", "suggestion": "sub_class"},
        {"column": "comment", "suggestion": None}]
    # The ignored columns lead the message, every one of them.
    assert job["status_message"].startswith(
        "WARNING: 2 columns ignored: 'subclass' (did you mean 'sub_class'?), 'comment'; ")
    assert job["meta"]["processed"] == 1 and job["meta"]["skipped"] == 0
    # Extra columns stay allowed: the factor landed (with a blank sub_class).
    (f,) = _list(api, tokens)["items"]
    assert f["classification"] == {"equipment_class": "Laptop", "sub_class": None}


def test_unused_columns_of_entry_and_reference_uploads(api: TestClient, tokens: Tokens
                                                      ) -> None:
    units = UNITS_CSV.replace("parent_institutional_code", "parent_institution_code")
    refused = upload(api, "/v1/sync/units", units, tokens.op, year=2025)
    assert refused.status_code == 400
    assert "did you mean 'parent_institutional_code'?" in refused.json()["detail"]
    job = _done(api, tokens, upload(api, "/v1/sync/units", units, tokens.op, year=2025,
                                    allow_unknown_columns="true"))
    assert job["result"] == "WARNING"
    assert job["meta"]["unknown_columns"] == [
        {"column": "parent_institution_code", "suggestion": "parent_institutional_code"}]
    _done(api, tokens, upload(api, "/v1/sync/factors/4", V1, tokens.op, **IT))
    entries = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
               "active_usage_hours_per_week,standby_usage_hours_per_wk,note\n"
               "UA,IT-1,Laptop 1,Laptop,Standard,40,128,desk 3\n")
    before = row_counts()
    refused = upload(api, "/v1/sync/data-entries/4", entries, tokens.op, **IT)
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert detail.startswith("data-entries upload rejected: ")
    assert ("'standby_usage_hours_per_wk' (did you mean 'standby_usage_hours_per_week'?)"
            in detail)
    assert row_counts() == before
    job = _done(api, tokens, upload(api, "/v1/sync/data-entries/4", entries, tokens.op,
                                    allow_unknown_columns="true", **IT))
    assert job["result"] == "WARNING", job["status_message"]
    assert job["meta"]["unknown_columns"] == [{"column": "standby_usage_hours_per_wk",
                                               "suggestion": "standby_usage_hours_per_week"}]
    assert job["status_message"].startswith("WARNING: 1 column ignored: "
                                            "'standby_usage_hours_per_wk' (did you mean")
    # Known columns (unit id, note, routing columns) are never reported.
    clean = ("unit_institutional_id,equipment_category,equipment_id,name,equipment_class,"
             "note,kg_co2eq\nUA,it,IT-1,Laptop 1,Laptop,desk 3,\n")
    job = _done(api, tokens, upload(api, "/v1/sync/data-entries/4", clean, tokens.op, **IT))
    assert job["result"] == "SUCCESS" and job["meta"]["unknown_columns"] == []
    # An extra column that is no misspelling is loaded without asking, and reported.
    stations = "name,latitude,longitude,country_code,elevation\nNyon,46.38,6.24,CH,400\n"
    job = _done(api, tokens, upload(api, "/v1/sync/reference/stations", stations, tokens.op))
    assert job["result"] == "WARNING"
    assert job["meta"]["unknown_columns"] == [{"column": "elevation", "suggestion": None}]
    assert job["status_message"].startswith("WARNING: 1 column ignored: 'elevation'; ")
    misspelt = "name,latitude,longitud,country_code\nNyon,46.38,6.24,CH\n"
    refused = upload(api, "/v1/sync/reference/stations", misspelt, tokens.op)
    assert refused.status_code == 400
    assert "longitude (the file has 'longitud': a misspelling?)" in refused.json()["detail"]
