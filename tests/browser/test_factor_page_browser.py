"""The factor page in a real browser: reached from an entry's page (the factor that
computed its row), it shows the factor's history timeline, newest first."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from carbon_tasks import operations as ops
from tests.console.support import EQUIPMENT, F_HEADER, IT, YEAR, last_entry_id, run, seed_equipment

from .conftest import Console

pytestmark = pytest.mark.integration


def test_entry_links_to_its_factor_timeline(console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=4, types=(IT,))
    assert run(ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.3\n").encode(),
                                module=EQUIPMENT, det=IT, year=YEAR, created_by="reviser",
                                recalculate=True)) == "SUCCESS"
    c, page = console, console.page
    c.sign_in(tokens["viewer"])
    page.goto(f"{c.base}/console/entries/{last_entry_id(IT)}")
    page.get_by_role("table", name="Rows").get_by_role("link").first.click()
    page.wait_for_url("**/console/factors/*")
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("updated")
    expect(rows.nth(0)).to_contain_text("reviser")
    expect(rows.nth(0)).to_contain_text("0.1 → 0.3")
    expect(rows.nth(1)).to_contain_text("inserted")
    expect(page.locator("#factor-status")).to_have_text("live")
    page.get_by_role("link", name="Factors", exact=True).click()
    expect(page.get_by_role("table", name="Factors")).to_contain_text("Laptop")
    c.shot("factor-page")
