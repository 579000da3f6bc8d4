"""A module whose last aggregation failed says its totals were not updated, on all three
surfaces, and the reconciler does not re-run the same failure every minute.

Operator walk: purchase entries each finite whose unit total overflows (1e308 CHF a piece,
which uploads accepted before the number limits, docs/uploads.md#number-limits; such data
is still stored where it was loaded then: tests/integration/legacy_data.py) were
recalculated; the aggregation ended ERROR ("ValueError: kg for emission type 90600 is not
finite: inf", no unit named), the pipeline PARTIAL, yet ``carbon status``, the API and the
console showed the module "✓ up to date" with the old totals, and beat backfilled the failing
aggregation every minute. Real uploads and an operator's recalculation on the suite's worker,
the console in Chromium, the API over HTTP, the CLI as a child process.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from carbon_domain.catalog import DataEntryType as D
from carbon_tasks import operations as ops
from carbon_tasks.reconcile import reconcile
from tests.console.support import YEAR
from tests.integration.helpers import UNITS_CSV, wait_pipeline
from tests.integration.test_failed_aggregation_monitoring import overflow_lab_a, upload_services
from tests.integration.test_ops_cli import run_carbon

from .conftest import Console

pytestmark = pytest.mark.integration

PURCHASE = 5
FACTORS = "purchase_institutional_code,currency,ef_kg_co2eq_per_currency\n12000000,eur,0.5\n"


def _module(base: str, token: str) -> dict[str, Any]:
    r = httpx.get(f"{base}/v1/sync/recalculation-status", params={"year": YEAR},
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return next(m for m in r.json() if m["module_type_id"] == PURCHASE)


def _cli() -> str:
    out = run_carbon("status", "--year", str(YEAR))
    assert out.returncode == 0, out.stderr
    return " ".join(out.stdout.split())  # Rich folds long lines at 80 columns


def test_a_failed_aggregation_reads_totals_not_updated_everywhere(
        console: Console, tokens: dict[str, str]) -> None:
    for acc in (ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="seed"),
                ops.start_upload("factors", FACTORS.encode(), module=PURCHASE, det=D.services,
                                 year=YEAR, created_by="seed")):
        assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    status, _ = upload_services("UA,12000000,1000,chf\n" * 6 + "UB,12000000,1000,chf\n")
    assert status == "SUCCESS"
    before = _module(console.base, tokens["viewer"])
    assert before["state"] == "up_to_date" and before["totals_kg"]["total"] > 0

    # Each entry finite (about 5e307 kg), Lab A's sum of them not: amounts an upload now
    # refuses, stored as they were before the limits, then recalculated by the operator.
    agg = overflow_lab_a()
    # The error names the unit, the module and the emission type whose total overflows.
    assert "purchase total of unit Lab A (UA)" in (agg.status_message or ""), agg.status_message
    assert "is not finite" in (agg.status_message or "")
    assert "emission type 90600" in (agg.status_message or "")

    # API: the module's state is failed, with why; the totals are the old ones.
    m = _module(console.base, tokens["viewer"])
    assert m["state"] == "failed", m["state_label"]
    assert m["state_label"] == "✗ totals not updated"
    assert m["state_detail"].startswith(f"aggregation #{agg.id} failed: the purchase total"
                                        " of unit Lab A (UA)"), m["state_detail"]
    assert m["aggregation_failed"] == m["state_detail"]
    assert m["totals_kg"] == before["totals_kg"]

    # CLI: the same label and reason.
    cli = _cli()
    assert "purchase ✗ totals not updated" in cli, cli
    assert (f"purchase: ✗ totals not updated — aggregation #{agg.id} failed: the purchase"
            " total of unit Lab A (UA)") in cli, cli

    # Console: the same, from the same service.
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    badge = page.locator(f"#module-{PURCHASE}-status [data-module-state]")
    expect(badge).to_have_attribute("data-module-state", "failed")
    expect(badge).to_have_text("✗ totals not updated")
    expect(page.locator(f"#module-{PURCHASE}-status [data-module-detail]")).to_contain_text(
        f"aggregation #{agg.id} failed: the purchase total of unit Lab A (UA)")
    c.shot("totals-not-updated")

    # Beat does not re-run a deterministic failure with the same inputs.
    assert reconcile.apply().get()["aggregations_backfilled"] == 0
    assert _module(console.base, tokens["viewer"])["state"] == "failed"

    # An input change retries it: corrected entries aggregate, the module is up to date.
    status, _ = upload_services("UA,12000000,2000,chf\n" * 6 + "UB,12000000,1000,chf\n")
    assert status == "SUCCESS"
    m = _module(console.base, tokens["viewer"])
    assert m["state"] == "up_to_date" and m["state_detail"] is None
    assert m["totals_kg"]["total"] > before["totals_kg"]["total"]
    c.data()
    expect(badge).to_have_text("✓ up to date")
    expect(page.locator(f"#module-{PURCHASE}-status [data-module-detail]")).to_have_count(0)
