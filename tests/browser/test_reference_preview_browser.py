"""The impact preview of a reference file (stations) in a real browser: the panel says what
the file changes (stations, not factors) and what "Apply" does (the upload alone: Train
becomes stale), and after the apply and Train's recalculation the stored totals are the
preview's after-figures.

Before: the panel said "Factors: 0 inserted, 0 updated, 0 retired, 0 revived, 0
unchanged." for a file that moved a station, listed no station change, and offered "Apply:
upload and recalculate", after which the pipeline ended "✓ Succeeded" with every total as
before (a reference apply recalculates nothing) and Train "⚠ needs recalculation".
"""

from __future__ import annotations

import math

import httpx
import pytest
from playwright.sync_api import expect

from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.status import year_status
from tests.integration.helpers import wait_pipeline
from tests.integration.test_preview_reference import (
    STATIONS,
    TRAIN,
    TRAVEL,
    YEAR,
    _base,
    _recalculate,
    _stations_csv,
    _totals,
)

from .conftest import Console

pytestmark = pytest.mark.integration


def _train_state() -> str:
    with session_scope() as s:
        (m,) = [m for m in year_status(s, YEAR) if m.module_type_id == TRAVEL]
    (t,) = [t for t in m.data_entry_types if t.data_entry_type_id == TRAIN]
    return t.state


def test_a_stations_preview_says_what_it_changes_and_that_apply_only_uploads(
        console: Console, tokens: dict[str, str]) -> None:
    _base(STATIONS)
    _recalculate()
    assert _train_state() == "up_to_date"
    moved = {**STATIONS, ("Geneva", "CH"): (46.0, 6.0)}
    r = httpx.post(f"{console.base}/v1/sync/reference/stations", params={"preview": "true"},
                   headers={"Authorization": f"Bearer {tokens['operator']}"},
                   files={"file": ("moved.csv", _stations_csv(moved).encode(), "text/csv")},
                   timeout=30)
    assert r.status_code == 202, r.text
    preview_id = r.json()["preview_id"]
    wait_pipeline(r.json()["pipeline_id"])
    before = math.fsum(_totals().values())

    c, page = console, console.page
    c.sign_in(tokens["operator"])
    page.goto(f"{c.base}/console/previews/{preview_id}")
    panel = page.locator(f"#preview-{preview_id}")
    expect(panel.get_by_role("table", name="Change by module")).to_be_visible()
    after = float(panel.locator(".preview-total").get_attribute("data-after") or "nan")
    assert float(panel.locator(".preview-total").get_attribute("data-before") or "nan") \
        == pytest.approx(before, abs=1e-9)
    # What the file changes: one station moved, no factor.
    counts = panel.locator(f"#preview-reference-{preview_id}")
    expect(counts).to_contain_text("Stations: 0 inserted, 1 updated, 0 retired, 0 revived, "
                                   "4 unchanged; years changed: every year.")
    expect(panel).not_to_contain_text("Factors:")
    panel.get_by_text("Stations changes (1)").click()
    expect(panel.get_by_role("table", name="Reference changes")).to_contain_text(
        "Geneva · CH")
    # What Apply does: the upload only; Train is stale until it is recalculated.
    expect(panel.locator(f"#preview-stale-{preview_id}")).to_have_text(
        "Applying uploads the file and recalculates nothing: Train then needs "
        "recalculation, and these totals are reached once it is recalculated.")
    expect(panel.get_by_role("button", name="Apply: upload and recalculate")).to_have_count(0)
    panel.get_by_role("button", name="Apply: upload (no recalculation)").click()
    actions = panel.locator(f"#preview-actions-{preview_id}")
    expect(actions).to_contain_text("Succeeded")
    c.shot("applied")
    assert _train_state() == "needs_recalculation"
    assert math.fsum(_totals().values()) == pytest.approx(before, abs=1e-9)
    _recalculate()
    assert _train_state() == "up_to_date"
    assert math.fsum(_totals().values()) == pytest.approx(after, rel=1e-12)
