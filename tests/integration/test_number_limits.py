"""A number beyond the accepted range of its kind refuses its row, like every bad row: the row
is skipped with a reason naming the column, the value and the limit, the rest lands, the job
ends WARNING, and the upload's preview reports the same rows (docs/uploads.md#number-limits;
the ranges and why they are what they are: ``carbon_domain/numbers.py``).

Before: an amount of 1e308 CHF, a power of 1e300 W, a factor value of 1e200, a room of 1e9
m² and an exchange rate of 1e308 (or 1e-9) EUR were stored as live data and the uploads ended
SUCCESS; the recalculation computed kg near the largest double, and the purchase module's
aggregation failed ("✗ totals not updated", the pipeline PARTIAL). Real PostgreSQL, the
suite's real Celery worker, the API in process and the CLI as a child process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.slices import load_reference_data
from carbon_tasks import operations as ops

from .api_support import Tokens, upload, wait_job
from .api_support import wait_pipeline as wait_api_pipeline
from .helpers import UNITS_CSV, jobs_of, wait_pipeline
from .test_ops_cli import run_carbon

pytestmark = pytest.mark.integration
YEAR, PURCHASE, EQUIPMENT = 2025, 5, 4

P_FACTORS = "purchase_institutional_code,currency,ef_kg_co2eq_per_currency\n12000000,eur,0.5\n"
P_HEADER = "unit_institutional_id,purchase_institutional_code,total_spent_amount,currency\n"
# Rows 3-6: amounts whose kg, each finite, overflow Lab A's sum (its aggregation failed);
# row 7: exactly the limit (kept); 8: one above it; 9: negative (refused, as before).
P_MIXED = P_HEADER + ("UA,12000000,1000,chf\n"
                      + "UA,12000000,1e308,chf\n" * 4
                      + "UB,12000000,1000000000000,eur\n"
                        "UB,12000000,1000000000001,eur\n"
                        "UB,12000000,-5,chf\n")
P_ERRORS = [
    *({"row": row, "reason": "total_spent_amount must be at most 1e12 (got '1e308')"}
      for row in (3, 4, 5, 6)),
    {"row": 8, "reason": "total_spent_amount must be at most 1e12 (got '1000000000001')"},
    {"row": 9, "reason": "total_spent_amount must be at least 0 (got -5)"}]

F_HEADER = "equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
F_BASE = F_HEADER + "Laptop,Standard,30,2,0.1\nDesktop,Standard,100,5,0.1\n"
# A replace file: Laptop's power and Desktop's factor are refused, so both stored factors
# stay live with their values (a refused row retires nothing); Monitor lands.
F_MIXED = F_HEADER + ("Laptop,Standard,1e300,2,0.1\n"
                      "Desktop,Standard,100,5,1e200\n"
                      "Monitor,Standard,20,1,0.1\n")
F_ERRORS = [
    {"row": 2, "reason": "active_power_w must be at most 1e12 (got '1e300')"},
    {"row": 3, "reason": "ef_kg_co2eq_per_kwh must be at most 1e12 (got '1e200')"}]


def _sql(q: str, **params: Any) -> list[tuple[Any, ...]]:
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(q), params)]


def _seed_purchases() -> None:
    for acc in (ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="seed"),
                ops.start_upload("factors", P_FACTORS.encode(), module=PURCHASE,
                                 det=D.services, year=YEAR, created_by="seed")):
        assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"


def _amounts() -> list[tuple[str, float]]:
    return [(u, float(a)) for u, a in _sql(
        "SELECT u.institutional_id, (d.data->>'total_spent_amount')::float8 FROM data_entries d"
        " JOIN units u ON u.id = d.unit_id WHERE d.data_entry_type_id = :d ORDER BY 1, 2",
        d=int(D.services))]


def _preview(api: TestClient, tokens: Tokens, path: str, body: str, **params: Any
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The finished preview of ``body`` and its job."""
    r = upload(api, path, body, tokens.op, preview="true", **params)
    assert r.status_code == 202, r.text
    wait_pipeline(r.json()["pipeline_id"])
    p = api.get(f"/v1/sync/previews/{r.json()['preview_id']}", headers=tokens.view).json()
    return p, wait_job(api, p["job_id"], tokens.op)


def _uploaded(api: TestClient, tokens: Tokens, path: str, body: str, **params: Any
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The upload's job and its finished pipeline."""
    r = upload(api, path, body, tokens.op, **params)
    assert r.status_code == 202, r.text
    job = wait_job(api, r.json()["job_id"], tokens.op, timeout=60)
    return job, wait_api_pipeline(api, r.json()["pipeline_id"], tokens.op, timeout=90)


def test_entry_amounts_beyond_the_limit_are_refused_and_the_totals_stay_computable(
        api: TestClient, tokens: Tokens) -> None:
    _seed_purchases()
    path, params = f"/v1/sync/data-entries/{PURCHASE}", {"year": YEAR,
                                                         "data_entry_type_id": int(D.services)}
    # The preview reports the refused rows the way the upload does, and writes nothing.
    p, previewed = _preview(api, tokens, path, P_MIXED, **params)
    assert p["state"] == "FINISHED" and p["result"] == "WARNING", p
    assert ("first error: row 3: total_spent_amount must be at most 1e12 (got '1e308')"
            in p["message"]), p["message"]
    assert previewed["meta"]["row_errors"] == P_ERRORS
    assert _amounts() == []

    job, pipeline = _uploaded(api, tokens, path, P_MIXED, **params)
    assert job["result"] == "WARNING", job["status_message"]
    assert job["meta"]["row_errors"] == P_ERRORS
    assert (job["meta"]["processed"], job["meta"]["skipped"]) == (2, 6)
    assert "first error: row 3: total_spent_amount must be at most 1e12 (got '1e308')" in (
        job["status_message"])
    # Only the rows within the limits are entries; the limit itself is a valid amount.
    assert _amounts() == [("UA", 1000.0), ("UB", 1e12)]
    # The recalculation and the aggregation succeed: the module's totals are up to date.
    assert pipeline["status"] == "SUCCESS", pipeline
    agg = [j for j in pipeline["jobs"] if j["job_type"] == "aggregation"]
    assert [j["result"] for j in agg] == ["SUCCESS"], agg
    r = api.get("/v1/sync/recalculation-status", params={"year": YEAR}, headers=tokens.view)
    module = next(m for m in r.json() if m["module_type_id"] == PURCHASE)
    assert module["state"] == "up_to_date", module
    assert module["totals_kg"]["total"] == pytest.approx(1000 * _chf() * 0.5 + 1e12 * 0.5)


def _chf() -> float:
    with session_scope() as s:
        rate = load_reference_data(s).rate_to_eur(YEAR, "chf")
    assert rate is not None
    return rate


def test_factor_values_beyond_the_limit_are_refused_and_the_stored_factors_stay(
        api: TestClient, tokens: Tokens) -> None:
    path, params = f"/v1/sync/factors/{EQUIPMENT}", {"year": YEAR,
                                                     "data_entry_type_id": int(D.it)}
    job, _ = _uploaded(api, tokens, path, F_BASE, **params)
    assert job["result"] == "SUCCESS", job["status_message"]
    q = ("SELECT classification->>'equipment_class', retired_at IS NULL,"
         " (\"values\"->>'active_power_w')::float8, (\"values\"->>'ef_kg_co2eq_per_kwh')::float8"
         " FROM factors WHERE data_entry_type_id = 11 ORDER BY 1")
    before = _sql(q)

    p, previewed = _preview(api, tokens, path, F_MIXED, **params)
    assert p["state"] == "FINISHED" and p["result"] == "WARNING", p
    assert "first error: row 2: active_power_w must be at most 1e12 (got '1e300')" in (
        p["message"]), p
    assert previewed["meta"]["row_errors"] == F_ERRORS
    assert _sql(q) == before

    job, _ = _uploaded(api, tokens, path, F_MIXED, **params)
    assert job["result"] == "WARNING", job["status_message"]
    assert job["meta"]["row_errors"] == F_ERRORS
    assert job["meta"]["factors_retired"] == 0
    assert _sql(q) == [("Desktop", True, 100.0, 0.1), ("Laptop", True, 30.0, 0.1),
                       ("Monitor", True, 20.0, 0.1)]


def _reference(kind: str, body: str) -> Any:
    acc = ops.start_upload(kind, body.encode(), created_by="t")
    wait_pipeline(acc.pipeline_id)
    (job,) = jobs_of(acc.pipeline_id)
    return job


def test_reference_numbers_beyond_their_limits_are_refused(db: str, worker: Any) -> None:
    job = _reference("building-rooms",
                     "building_name,room_name,room_type,room_surface_square_meter\n"
                     "B1,R1,office,120\nB1,R2,office,1e9\nB1,R3,office,100000000\n")
    assert job.result == "WARNING", job.status_message
    assert job.meta["row_errors"] == [
        {"row": 3, "reason": "room_surface_square_meter must be at most 1e8 m² (got '1e9')"}]
    assert _sql("SELECT room_name, room_surface_square_meter FROM building_rooms"
                " ORDER BY 1") == [("R1", 120.0), ("R3", 1e8)]

    assert _reference("exchange-rates", "year,currency,rate_to_eur\n2025,chf,1.05\n"
                      "2025,jpy,0.006\n").result == "SUCCESS"
    job = _reference("exchange-rates", "year,currency,rate_to_eur\n2025,usd,0.9\n"
                     "2025,chf,1e308\n2025,jpy,1e-9\n2025,gbp,1000000\n")
    assert job.result == "WARNING", job.status_message
    rule = "rate_to_eur must be between 1e-6 and 1e6 EUR per unit"
    assert job.meta["row_errors"] == [
        {"row": 3, "reason": f"{rule} (got '1e308')"},
        {"row": 4, "reason": f"{rule} (got '1e-9')"}]
    # The refused currencies keep their stored rates (a refused row retires nothing).
    assert _sql("SELECT currency, rate_to_eur FROM exchange_rates WHERE year = 2025"
                " AND retired_by_job_id IS NULL ORDER BY 1") == [
        ("chf", 1.05), ("gbp", 1e6), ("jpy", 0.006), ("usd", 0.9)]


def test_cli_names_the_rows_refused_for_their_numbers(db: str, worker: Any,
                                                      tmp_path: Path) -> None:
    _seed_purchases()
    f = tmp_path / "purchases.csv"
    f.write_text(P_MIXED)
    out = run_carbon("ingest", "data-entries", str(f), "--module", "purchase",
                     "--det", "services", "--year", str(YEAR), "--wait")
    said = " ".join((out.stdout + out.stderr).split())  # Rich folds long lines
    assert "Traceback" not in said, said
    assert "row 3: total_spent_amount must be at most 1e12 (got '1e308')" in said, said
    assert _amounts() == [("UA", 1000.0), ("UB", 1e12)]
