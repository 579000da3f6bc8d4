"""Entries that have a factor but could not be computed are counted as such, not as
"without a matching factor", and the same after an incremental and a full run, on every
surface (the status service, the API, ``carbon status --json``, the console in Chromium,
its "Without factor" and "Not computed" columns included).

Operator walk: after an incremental run, 30 entries with a factor whose result is not finite
read "◌ incomplete — 30 of 2,079 entries without a matching factor" while the run said "0
without a matching factor, 30 errors"; after a full run of the same data the type read "✓ up
to date", those 30 entries without rows and missing from the totals. Incremental chunks
counted entries without rows (errors included), full runs only missing factors. Real
uploads and recalculations on the suite's worker; the amounts that overflow are set in place,
as data loaded before the number limits holds them (an upload refuses them now).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.status import year_status
from carbon_tasks import operations as ops
from tests.console.support import YEAR
from tests.integration.helpers import UNITS_CSV, jobs_of, wait_pipeline
from tests.integration.legacy_data import set_entry_values
from tests.integration.test_ops_cli import run_carbon

from .conftest import Console

pytestmark = pytest.mark.integration

PURCHASE, DET = 5, int(D.services)
F_HEAD = "purchase_institutional_code,currency,ef_kg_co2eq_per_currency\n"
E_HEAD = "unit_institutional_id,purchase_institutional_code,total_spent_amount,currency\n"
# 5 computed, 3 whose result overflows once their amount is 1e307 (data loaded before the
# number limits: tests/integration/legacy_data.py) and their factor 1e10, 1 without a factor.
ENTRIES = ("UA,12000000,1000,chf\n" * 5 + "UB,13000000,1000,chf\n" * 3
           + "UA,14000000,1000,chf\n")
DETAIL = "1 of 9 entries without a matching factor; 3 entries could not be computed (see errors)"
WANT = ("incomplete", DETAIL, 1, 3)


def _recalc(acc: ops.Accepted) -> Any:
    assert acc.pipeline_id
    wait_pipeline(acc.pipeline_id)
    jobs = jobs_of(acc.pipeline_id)
    (job,) = [j for j in jobs if j.job_type == "emission_recalc"]
    assert job.state == "FINISHED" and job.result != "ERROR", job.status_message
    return job


def _pick(modules: list[dict[str, Any]]) -> tuple[Any, ...]:
    m = next(m for m in modules if m["module_type_id"] == PURCHASE)
    t = next(t for t in m["data_entry_types"] if t["data_entry_type_id"] == DET)
    return (t["state"], t["state_detail"], t["entries_without_factor"],
            t["entries_with_errors"])


def _everywhere(c: Console, viewer: str) -> set[tuple[Any, ...]]:
    """(state, detail, without factor, not computed) on every surface (one when they agree)."""
    from dataclasses import asdict

    with session_scope() as s:
        service = _pick([asdict(m) for m in year_status(s, YEAR)])
    r = httpx.get(f"{c.base}/v1/sync/recalculation-status", params={"year": YEAR},
                  headers={"Authorization": f"Bearer {viewer}"}, timeout=30)
    assert r.status_code == 200, r.text
    out = run_carbon("status", "--year", str(YEAR), "--json")
    assert out.returncode == 0, out.stderr
    c.data()
    row = c.page.locator(f"#type-{DET}")
    detail = row.locator("[data-detail]")
    shown = (row.get_attribute("data-state"),
             (detail.text_content() or "").strip() if detail.count() else None,
             _num(row.locator("[data-without-factor]").text_content() or ""),
             _num(row.locator("[data-not-computed]").text_content() or ""))
    return {service, _pick(r.json()), _pick(json.loads(out.stdout)), shown}


def _num(text: str) -> int | None:
    return None if text.strip() == "—" else int(text.replace(",", ""))


def test_entries_that_could_not_be_computed_are_not_without_a_factor_in_either_run(
        console: Console, tokens: dict[str, str]) -> None:
    for acc in (ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="seed"),
                ops.start_upload("factors", (F_HEAD + "12000000,eur,0.5\n13000000,eur,0.5\n")
                                 .encode(), module=PURCHASE, det=DET, year=YEAR,
                                 created_by="seed")):
        assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    first = _recalc(ops.start_upload("data-entries", (E_HEAD + ENTRIES).encode(),
                                     module=PURCHASE, det=DET, year=YEAR, created_by="alice"))
    assert "1 without a matching factor, 0 errors" in first.status_message
    console.sign_in(tokens["operator"])
    assert _everywhere(console, tokens["viewer"]) == {
        ("incomplete", "1 of 9 entries without a matching factor", 1, 0)}

    # Lab B's amounts as an upload stored them before the limits (it refuses 1e307 CHF now).
    assert set_entry_values(det=DET, year=YEAR, unit_id="UB", column="total_spent_amount",
                            value=1e307) == 3
    # A factor of 1e10 for the 3 entries of 13000000: they still have a factor, but their
    # result is not finite. The run rewrites those 3 only.
    inc = _recalc(ops.start_upload(
        "factors", (F_HEAD + "12000000,eur,0.5\n13000000,eur,1e10\n").encode(),
        module=PURCHASE, det=DET, year=YEAR, recalculate=True, created_by="alice"))
    assert inc.meta["config"]["scope"]["incremental"] is True
    assert "0 without a matching factor, 3 errors" in inc.status_message
    assert _everywhere(console, tokens["viewer"]) == {WANT}
    expect(console.page.locator(f"#type-{DET} [data-state-badge]")).to_have_text("◌ incomplete")
    console.shot("incremental")

    # A full run over the same data: the same state and counts.
    full = _recalc(ops.trigger_recalculation(module=PURCHASE, det=DET, year=YEAR,
                                             created_by="alice"))
    assert full.meta["config"]["scope"]["incremental"] is False
    assert "1 without a matching factor, 3 errors" in full.status_message
    assert _everywhere(console, tokens["viewer"]) == {WANT}

    # An incremental run after the full one carries the errors forward (it does not rewrite
    # them): the entry that had no factor gets one.
    factors = "12000000,eur,0.5\n13000000,eur,{ef}\n14000000,eur,0.5\n"
    inc = _recalc(ops.start_upload(
        "factors", (F_HEAD + factors.format(ef="1e10")).encode(),
        module=PURCHASE, det=DET, year=YEAR, recalculate=True, created_by="alice"))
    assert inc.meta["config"]["scope"]["incremental"] is True
    only_errors = ("incomplete", "3 entries could not be computed (see errors)", 0, 3)
    assert _everywhere(console, tokens["viewer"]) == {only_errors}
    # A full run of that: the same (it read "✓ up to date", the 3 entries out of the totals).
    full = _recalc(ops.trigger_recalculation(module=PURCHASE, det=DET, year=YEAR,
                                             created_by="alice"))
    assert full.meta["config"]["scope"]["incremental"] is False
    assert _everywhere(console, tokens["viewer"]) == {only_errors}
    # One that makes them computable clears them.
    inc = _recalc(ops.start_upload(
        "factors", (F_HEAD + factors.format(ef="0.5")).encode(),
        module=PURCHASE, det=DET, year=YEAR, recalculate=True, created_by="alice"))
    assert inc.meta["config"]["scope"]["incremental"] is True
    assert _everywhere(console, tokens["viewer"]) == {("up_to_date", None, 0, 0)}
