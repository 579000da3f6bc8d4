"""Bad uploads through HTTP: each gets its documented status, and the database is unchanged
where it should be (a refused file writes nothing; a file with bad rows writes its good rows
and reports the bad ones in the job)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_domain.settings import get_settings

from .api_support import Tokens, row_counts, upload, wait_job, wait_pipeline
from .helpers import UNITS_CSV

pytestmark = pytest.mark.integration

FACTORS = "/v1/sync/factors/4"
ENTRIES = "/v1/sync/data-entries/4"
IT = {"year": 2025, "data_entry_type_id": 11}
F_HEADER = "equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
GOOD_F = "Laptop,Standard,100,10,0.1\n"
E_HEADER = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
            "active_usage_hours_per_week,standby_usage_hours_per_week\n")


# -- files that cannot be used at all: 400 naming the problem, nothing written --------------

UNUSABLE: dict[str, tuple[str, dict[str, Any], bytes, str]] = {
    "not utf-8 (latin-1)": (FACTORS, IT, (F_HEADER + "Écran,Standard,100,10,0.1\n")
                            .encode("latin-1"), "not UTF-8"),
    "utf-16": (FACTORS, IT, (F_HEADER + GOOD_F).encode("utf-16"), "not UTF-8"),
    "empty": (FACTORS, IT, b"", "empty"),
    "whitespace only": (FACTORS, IT, b" \n\n \r\n", "empty"),
    "header only": (FACTORS, IT, F_HEADER.encode(), "no data rows"),
    "semicolon delimiter": (FACTORS, IT, (F_HEADER + GOOD_F).replace(",", ";").encode(),
                            "semicolons"),
    "tab delimiter": (FACTORS, IT, (F_HEADER + GOOD_F).replace(",", "\t").encode(), "tabs"),
    "missing required column": (
        FACTORS, IT, b"equipment_class,sub_class,active_power_w\nLaptop,Standard,100\n",
        "ef_kg_co2eq_per_kwh"),
    "duplicate column": (FACTORS, IT, (F_HEADER.strip() + ",sub_class\n" + GOOD_F.strip()
                                       + ",x\n").encode(), "duplicate"),
    "png image": (FACTORS, IT, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32,
                  "not UTF-8"),
    "xlsx (zip)": (FACTORS, IT, b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"\x00" * 40,
                   "not UTF-8"),
    "NUL byte after 64 KiB": (FACTORS, IT, (F_HEADER + GOOD_F * 3000 + "Lap\x00top,,1,1,1\n")
                              .encode(), "NUL"),
    "entries without unit column": (
        ENTRIES, IT, b"equipment_id,name,equipment_class\nINV-1,Laptop,Laptop\n",
        "unit_institutional_id"),
    "units file sent as factors": (FACTORS, IT, UNITS_CSV.encode(), "equipment_class"),
    "units without year column data": (
        "/v1/sync/units", {"year": 2025}, b"name,level\nLab,4\n", "institutional_code"),
    "stations missing coordinates": (
        "/v1/sync/reference/stations", {}, b"name,country_code\nLausanne,CH\n", "latitude"),
}


@pytest.mark.parametrize("case", list(UNUSABLE), ids=list(UNUSABLE))
def test_unusable_file_is_400_and_writes_nothing(api: TestClient, tokens: Tokens,
                                                 case: str) -> None:
    path, params, body, problem = UNUSABLE[case]
    before = row_counts()
    r = upload(api, path, body, tokens.op, **params)
    assert r.status_code == 400, r.text
    assert problem.lower() in r.json()["detail"].lower(), r.json()
    assert row_counts() == before


# -- requests that are malformed before the file is even looked at ---------------------------

def _multipart(body: bytes, boundary: str = "XyZ") -> tuple[bytes, dict[str, str]]:
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"f.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode() + body + \
        f"\r\n--{boundary}--\r\n".encode()
    return payload, {"content-type": f"multipart/form-data; boundary={boundary}"}


def test_malformed_requests(api: TestClient, tokens: Tokens) -> None:
    before = row_counts()
    good = (F_HEADER + GOOD_F).encode()
    # No file part (a text field instead) → 422 naming the field.
    r = api.post(FACTORS, params=IT, headers=tokens.op, data={"file": "not a file"},
                 files={"other": ("x.csv", good, "text/csv")})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"]
    # Not multipart at all → 415.
    r = api.post(FACTORS, params=IT, headers=tokens.op, json={"rows": []})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]
    # Multipart without a boundary → 400.
    r = api.post(FACTORS, params=IT, content=b"garbage",
                 headers={**tokens.op, "content-type": "multipart/form-data"})
    assert r.status_code == 400 and "multipart" in r.json()["detail"].lower()
    # Year missing, out of range, not a number; module unknown; type of another module.
    for params in ({"data_entry_type_id": 11}, {"year": 1999}, {"year": 2101},
                   {"year": "twenty"}, {"year": 2025, "data_entry_type_id": 999}):
        r = upload(api, FACTORS, good, tokens.op, **params)
        assert r.status_code == 422, (params, r.text)
    assert upload(api, "/v1/sync/factors/9", good, tokens.op, year=2025).status_code == 422
    assert upload(api, "/v1/sync/reference/airports", good, tokens.op).status_code == 422
    r = upload(api, FACTORS, good, tokens.op, year=2025, data_entry_type_id=20)
    assert r.status_code == 422
    assert "does not belong to module 4" in r.json()["detail"][0]["msg"]
    assert row_counts() == before


def test_oversize_upload_is_413(api: TestClient, tokens: Tokens,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 200)
    before = row_counts()
    body = (F_HEADER + GOOD_F * 20).encode()
    assert len(body) > 200
    # Content-Length above the limit (plus the multipart envelope slack).
    r = upload(api, FACTORS, body * 400, tokens.op, **IT)
    assert r.status_code == 413 and "200 bytes" in r.json()["detail"]
    # Within the envelope slack: only the file's own bytes tell.
    r = upload(api, FACTORS, body, tokens.op, **IT)
    assert r.status_code == 413
    # A chunked body has no Content-Length: the bytes actually received tell.
    payload, headers = _multipart(body * 400)

    def chunks() -> Any:
        for i in range(0, len(payload), 4096):
            yield payload[i:i + 4096]
    r = api.post(FACTORS, params=IT, content=chunks(), headers={**tokens.op, **headers})
    assert r.status_code == 413
    assert row_counts() == before
    # Exactly at the limit is fine.
    monkeypatch.setattr(get_settings(), "max_upload_bytes", len(body))
    assert upload(api, FACTORS, body, tokens.op, **IT).status_code == 202


# -- usable files with bad rows: 202, rows skipped and reported in the job -------------------

def _units(api: TestClient, tokens: Tokens) -> None:
    r = upload(api, "/v1/sync/units", UNITS_CSV, tokens.op, year=2025)
    assert r.status_code == 202, r.text
    assert wait_pipeline(api, r.json()["pipeline_id"], tokens.op)["status"] == "SUCCESS"


BAD_ROWS = {
    "negative": ("Desktop,Standard,-5,10,0.1", "active_power_w must be at least 0"),
    "non-numeric": ("Desktop,Standard,abc,10,0.1", "'abc' is not a number"),
    "NaN": ("Desktop,Standard,NaN,10,0.1", "'NaN' is not a number"),
    "infinity": ("Desktop,Standard,100,10,inf", "'inf' is not a number"),
    "huge": ("Desktop,Standard,1e999,10,0.1", "too large"),
    "missing value": ("Desktop,Standard,,10,0.1", "active_power_w is required"),
}


def test_bad_rows_are_skipped_and_reported(api: TestClient, tokens: Tokens,
                                           worker: Any) -> None:
    before = row_counts()
    body = F_HEADER + GOOD_F + "".join(row + "\n" for row, _ in BAD_ROWS.values())
    r = upload(api, FACTORS, body, tokens.op, **IT)
    assert r.status_code == 202, r.text
    acc = r.json()
    assert set(acc) == {"job_id", "pipeline_id", "state", "message"}
    job = wait_job(api, acc["job_id"], tokens.op)
    assert job["result"] == "WARNING"
    assert not job["status_message"].lower().startswith("success")
    errors = job["meta"]["row_errors"]
    assert [e["row"] for e in errors] == list(range(3, 3 + len(BAD_ROWS)))
    for err, (_, reason) in zip(errors, BAD_ROWS.values(), strict=True):
        assert reason in err["reason"], err
    after = row_counts()
    assert after["factors"] == before["factors"] + 1  # only the good row
    assert after["uploaded_files"] == before["uploaded_files"] + 1


def test_unknown_category_row_is_reported(api: TestClient, tokens: Tokens,
                                          worker: Any) -> None:
    """A module-wide factor file routes rows by equipment_category; an unknown one is a row
    error naming the valid choices."""
    body = ("equipment_category," + F_HEADER + "it," + GOOD_F + "spaceship," + GOOD_F)
    r = upload(api, FACTORS, body, tokens.op, year=2025)
    assert r.status_code == 202, r.text
    job = wait_job(api, r.json()["job_id"], tokens.op)
    assert job["result"] == "WARNING"
    (err,) = job["meta"]["row_errors"]
    assert err["row"] == 3 and "'spaceship' is not a data entry type of module equipment" \
        in err["reason"]


def test_file_with_no_usable_row_is_an_error_and_writes_nothing(api: TestClient,
                                                                tokens: Tokens,
                                                                worker: Any) -> None:
    before = row_counts()
    body = F_HEADER + "Desktop,Standard,-1,10,0.1\nDesktop,Standard,x,10,0.1\n"
    r = upload(api, FACTORS, body, tokens.op, **IT)
    assert r.status_code == 202
    job = wait_job(api, r.json()["job_id"], tokens.op)
    assert job["result"] == "ERROR" and "no usable rows" in job["status_message"]
    assert len(job["meta"]["row_errors"]) == 2
    assert row_counts()["factors"] == before["factors"]


INJECTION = "=cmd|' /C calc'!A0"
SQLISH = "Robert'); DROP TABLE data_entries;--"


def test_formula_and_sql_strings_are_stored_literally(api: TestClient, tokens: Tokens,
                                                      worker: Any) -> None:
    _units(api, tokens)
    r = upload(api, FACTORS, F_HEADER + GOOD_F + f'"{SQLISH}",Standard,50,5,0.1\n',
               tokens.op, **IT)
    assert wait_job(api, r.json()["job_id"], tokens.op)["result"] == "SUCCESS"
    body = (E_HEADER + f'UA,INV-1,"{INJECTION}",Laptop,Standard,40,128\n'
            f'UB,"{SQLISH}","@SUM(1+1)*cmd|\' /C calc\'!A0",Laptop,Standard,40,128\n')
    r = upload(api, ENTRIES, body, tokens.op, filename="evil\x00name;rm -rf.csv", **IT)
    assert r.status_code == 202, r.text
    p = wait_pipeline(api, r.json()["pipeline_id"], tokens.op)
    assert p["status"] == "SUCCESS", p
    with session_scope() as s:
        names = {row[0]: row[1] for row in s.execute(text(
            "SELECT data->>'equipment_id', data->>'name' FROM data_entries ORDER BY id"))}
        classes = set(s.scalars(text("SELECT classification->>'equipment_class' FROM factors")))
        filenames = set(s.scalars(text("SELECT filename FROM uploaded_files")))
        emissions = s.scalar(text("SELECT count(*) FROM data_entry_emissions"))
    assert names == {"INV-1": INJECTION, SQLISH: "@SUM(1+1)*cmd|' /C calc'!A0"}
    assert SQLISH in classes
    assert emissions == 2  # both entries computed; every table still there
    assert all("\x00" not in f and "/" not in f for f in filenames)


def test_row_problems_in_data_entries_are_reported(api: TestClient, tokens: Tokens,
                                                   worker: Any) -> None:
    _units(api, tokens)
    upload(api, FACTORS, F_HEADER + GOOD_F, tokens.op, **IT)
    body = (E_HEADER + "UA,INV-1,ok,Laptop,Standard,40,128\n"
            "NOPE,INV-2,unknown unit,Laptop,Standard,40,128\n"
            "UA,INV-3,too many hours,Laptop,Standard,100,100\n")
    r = upload(api, ENTRIES, body, tokens.op, **IT)
    job = wait_job(api, r.json()["job_id"], tokens.op)
    assert job["result"] == "WARNING", job
    rows = {e["row"]: e["reason"] for e in job["meta"]["row_errors"]}
    assert set(rows) == {3, 4}
    assert "NOPE" in rows[3] and "exceed" in rows[4]
    assert wait_pipeline(api, r.json()["pipeline_id"], tokens.op)["status"] == "SUCCESS"
