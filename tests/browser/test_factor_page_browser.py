"""The factor page in a real browser: reached from an entry's page (the factor that
computed its row), it shows the factor's history timeline, newest first."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from carbon_tasks import operations as ops
from tests.console.support import (
    EQUIPMENT,
    F_HEADER,
    IT,
    YEAR,
    last_entry_id,
    run,
    seed_equipment,
    wait_pipeline,
)

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


def test_revert_button_on_a_factor_upload(console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=4, types=(IT,))
    acc = ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.3\n").encode(),
                           module=EQUIPMENT, det=IT, year=YEAR, created_by="reviser",
                           recalculate=True)
    assert run(acc) == "SUCCESS"
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    page.goto(f"{c.base}/console/pipelines")
    page.locator(f"#expand-{acc.pipeline_id}").click()
    button = page.locator(f"#pd-{acc.pipeline_id}").get_by_role(
        "button", name="Revert this factor upload")
    expect(button).to_be_enabled()
    page.once("dialog", lambda d: d.accept())
    button.click()
    result = page.locator(f"#actions-result-{acc.pipeline_id}")
    expect(result).to_contain_text("factors upload accepted")
    pid = result.locator("[data-pipeline]").get_attribute("data-pipeline")
    assert pid and wait_pipeline(pid) == "SUCCESS"
    # The factor page shows the revert as the newest change.
    page.goto(f"{c.base}/console/factors")
    page.get_by_role("table", name="Factors").get_by_role("link").first.click()
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("0.3 → 0.1")
    expect(rows.nth(0)).to_contain_text("ops-alice")
    c.shot("reverted")


def test_a_stale_row_is_not_shown_with_the_formula_of_the_new_factor(
        console: Console, tokens: dict[str, str]) -> None:
    """A factor revised without recalculation: the entry's stored row (7.8 kg, computed
    with factor v1: ef 0.1) was shown beside "(13 × 100 + 20 × 10) × 52 / 1000 × 0.3"
    (the recomputation with v2), a formula that gives 23.4, as if it were the row's own.
    The row's formula cell says the row predates it and what it gives now."""
    seed_equipment(entries_per_type=4, types=(IT,))
    assert run(ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.3\n").encode(),
                                module=EQUIPMENT, det=IT, year=YEAR,
                                created_by="reviser")) == "SUCCESS"
    c, page = console, console.page
    c.sign_in(tokens["viewer"])
    page.goto(f"{c.base}/console/entries/{last_entry_id(IT)}")
    row = page.get_by_role("table", name="Rows").locator("tbody tr")
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(1)).to_have_text("7.8")  # the stored kg, with factor v1
    expect(cells.nth(2)).to_contain_text("v1")
    expect(cells.nth(2)).to_contain_text("stale")
    formula = cells.nth(3)
    expect(formula).to_contain_text("not this row's formula")
    expect(formula).to_contain_text("recomputed now with factor")
    expect(formula).to_contain_text(" v2,")
    expect(formula).to_contain_text("0.3")
    expect(formula).to_contain_text("= 23.4 kg")
    expect(formula).to_contain_text("recalculate the type")
    # The formula inputs below are the recomputation, as they say.
    expect(page.get_by_role("table", name="Formula inputs")).to_contain_text("23.4")
    c.shot("stale-row")
