"""A module whose last aggregation failed is in monitoring: ``GET /v1/health/stale-stats``
and ``carbon status --stale-only`` list it in ``failed_modules`` with the module state
every other surface shows ("✗ totals not updated", with why), whatever its age, and stop
listing it once an aggregation succeeds.

Before: the recalculation status, the console and ``carbon status`` said "✗ totals not
updated", but the monitoring read listed only stale and failed *types*; the module's types
were all up to date, so both answered nothing and an alert rule never saw the failure.

The failure is real (as tests/browser/test_failed_aggregation_browser.py produces it):
purchase entries each finite whose unit total overflows (amounts an upload now refuses,
given in place as older data may hold them: legacy_data.py) are recalculated on the
suite's worker and the aggregation ends ERROR. The CLI runs as a child process.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon_domain.catalog import DataEntryType as D
from carbon_tasks import operations as ops

from .api_support import Tokens
from .helpers import UNITS_CSV, jobs_of, wait_pipeline
from .legacy_data import set_entry_values
from .test_ops_cli import run_carbon

pytestmark = pytest.mark.integration
YEAR, PURCHASE = 2025, 5
FACTORS = "purchase_institutional_code,currency,ef_kg_co2eq_per_currency\n12000000,eur,0.5\n"
HEADER = "unit_institutional_id,purchase_institutional_code,total_spent_amount,currency\n"
DAY = 86400


def upload_services(rows: str) -> tuple[str, list[Any]]:
    """Purchase `services` entries (HEADER's columns) for YEAR: the pipeline's status and jobs."""
    acc = ops.start_upload("data-entries", (HEADER + rows).encode(), module=PURCHASE,
                           det=D.services, year=YEAR, created_by="alice")
    assert acc.pipeline_id
    return wait_pipeline(acc.pipeline_id).status, jobs_of(acc.pipeline_id)


def overflow_lab_a() -> Any:
    """Lab A's six services entries given 1e308 CHF in place (each entry's kg finite, their
    sum not) and the type recalculated: the pipeline ends PARTIAL, its aggregation ERROR
    (returned)."""
    assert set_entry_values(det=D.services, year=YEAR, unit_id="UA",
                            column="total_spent_amount", value=1e308) == 6
    acc = ops.trigger_recalculation(module=PURCHASE, det=D.services, year=YEAR,
                                    created_by="alice")
    status, jobs = wait_pipeline(acc.pipeline_id).status, jobs_of(acc.pipeline_id)
    assert status == "PARTIAL", [(j.job_type, j.result, j.status_message) for j in jobs]
    agg = next(j for j in jobs if j.job_type == "aggregation")
    assert agg.result == "ERROR"
    return agg


def _module_state(api: TestClient, tokens: Tokens) -> dict[str, Any]:
    r = api.get("/v1/sync/recalculation-status", params={"year": YEAR}, headers=tokens.view)
    assert r.status_code == 200, r.text
    return next(m for m in r.json() if m["module_type_id"] == PURCHASE)


def _monitoring(api: TestClient, tokens: Tokens, older_than: float) -> dict[str, Any]:
    r = api.get("/v1/health/stale-stats", params={"older_than": older_than},
                headers=tokens.view)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _cli(*args: str) -> str:
    out = run_carbon("status", "--stale-only", "--year", str(YEAR), *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_failed_aggregation_is_listed_by_monitoring_with_the_module_state(
        api: TestClient, tokens: Tokens) -> None:
    for acc in (ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="seed"),
                ops.start_upload("factors", FACTORS.encode(), module=PURCHASE, det=D.services,
                                 year=YEAR, created_by="seed")):
        assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    assert upload_services("UA,12000000,1000,chf\n")[0] == "SUCCESS"
    quiet = _monitoring(api, tokens, 0)
    assert (quiet["stale"], quiet["failed"], quiet.get("failed_modules", [])) == ([], [], [])

    # Each entry finite (about 5e307 kg), Lab A's sum of them not: the aggregation fails.
    # An upload refuses such amounts now (the number limits), so they are given in place,
    # as data loaded before the limits holds them, and the type is recalculated.
    assert upload_services("UA,12000000,1000,chf\n" * 6 + "UB,12000000,1000,chf\n")[0] == "SUCCESS"
    agg = overflow_lab_a()
    module = _module_state(api, tokens)
    assert (module["state"], module["state_label"]) == ("failed", "✗ totals not updated")
    assert module["state_detail"].startswith(f"aggregation #{agg.id} failed: the purchase"
                                             " total of unit Lab A (UA)"), module
    # No type is stale or failed: the failure is in the totals, not in the rows.
    assert not {t["state"] for t in module["data_entry_types"]} & {"failed",
                                                                   "needs_recalculation"}

    # The API: listed whatever the threshold (a failure is not a matter of age), with the
    # module's state, label and reason exactly as the status read gives them.
    report = _monitoring(api, tokens, DAY)
    assert (report["stale"], report["failed"]) == ([], [])
    (row,) = report.get("failed_modules", [])
    assert (row["year"], row["module_type_id"], row["module_name"]) == (YEAR, PURCHASE,
                                                                        "purchase")
    assert (row["state"], row["state_label"]) == (module["state"], module["state_label"])
    assert row["reasons"] == [module["state_detail"]] == [module["aggregation_failed"]]
    assert row["last_failed_job_id"] == agg.id
    assert row["since"] is not None and row["stale_seconds"] >= 0

    # The CLI: the same JSON, and the same label and reason in its text.
    cli = json.loads(_cli("--older-than", str(DAY), "--json"))
    api_report = _monitoring(api, tokens, DAY)
    for r in (cli, api_report):
        r.pop("checked_at")
        for m in r["failed_modules"]:
            m.pop("stale_seconds")
            m["since"] = m["since"][:19]
    assert cli == api_report
    text = " ".join(_cli().split())  # Rich folds long lines at 80 columns
    assert (f"{YEAR} purchase: ✗ totals not updated") in text, text
    assert (f"aggregation #{agg.id} failed: the purchase total of unit Lab A (UA)") in text, text
    assert "Nothing has needed recalculation" not in text, text

    # Corrected entries aggregate: the module is up to date and monitoring quiet again.
    assert upload_services("UA,12000000,2000,chf\nUB,12000000,1000,chf\n")[0] == "SUCCESS"
    assert _module_state(api, tokens)["state"] == "up_to_date"
    report = _monitoring(api, tokens, 0)
    assert (report["stale"], report["failed"], report["failed_modules"]) == ([], [], [])
    assert "Nothing has needed recalculation" in " ".join(_cli().split())
