"""Before an operator downloads an export, the page says whether its numbers are up to date.

Operator walk: the IT factor was revised without recalculating; the data page's "Download
results.csv" buttons and the IT entries link stayed plain links, and the file downloaded
with the old numbers as if current. Now each link whose export is not up to date has the
warning beside it, every module card's results.csv button included (results.csv covers
every module: a purchase card that did not change says it too), it appears live when the
factor lands and goes when the recalculation is done. Chromium on the live server, the
suite's real worker; the recalculation is clicked on the page.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from carbon_tasks import operations as ops
from tests.console.support import EQUIPMENT, F_HEADER, IT, YEAR, run, seed_equipment

from .conftest import Console

pytestmark = pytest.mark.integration

PURCHASE, SERVICES = 5, 64
NEW_IT_FACTOR = F_HEADER + "Laptop,Standard,100,10,0.3\n"
WARNING = f"⚠ 1 type of {YEAR} is not up to date: IT (needs recalculation: "


def _seed_purchase() -> None:
    assert run(ops.start_upload(
        "factors", b"purchase_institutional_code,currency,ef_kg_co2eq_per_currency\n"
        b"12000000,eur,0.5\n", module=PURCHASE, det=SERVICES, year=YEAR,
        created_by="seed")) == "SUCCESS"
    assert run(ops.start_upload(
        "data-entries", b"unit_institutional_id,purchase_institutional_code,"
        b"total_spent_amount,currency\nUA,12000000,1000,eur\n", module=PURCHASE, det=SERVICES,
        year=YEAR, created_by="seed")) == "SUCCESS"


def test_export_links_warn_while_their_numbers_are_not_up_to_date(
        console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=5, types=(IT,))
    _seed_purchase()
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    equipment, purchase = (page.locator(f"#module-{m}-status") for m in (EQUIPMENT, PURCHASE))
    for card in (equipment, purchase):
        expect(card.get_by_role("link", name=f"Download results.csv ({YEAR}, all modules)")
               ).to_be_visible()
    # Everything is up to date: not a word.
    expect(page.locator("[data-export-warning]")).to_have_count(0)

    # The IT factor is revised, not recalculated: the page says it, live, beside each link.
    assert run(ops.start_upload("factors", NEW_IT_FACTOR.encode(), module=EQUIPMENT, det=IT,
                                year=YEAR, created_by="alice")) == "SUCCESS"
    expect(page.locator(f"#type-{IT}")).to_have_attribute("data-state", "needs_recalculation")
    for card in (equipment, purchase):  # results.csv holds every module's numbers
        warning = card.locator('[data-export-warning="results"]')
        expect(warning).to_be_visible()
        expect(warning).to_contain_text(WARNING)
    it_link = page.locator(f"#export-{IT}")
    expect(it_link).to_be_visible()
    expect(page.locator(f'[data-export-warning="{IT}"]')).to_contain_text(WARNING)
    c.shot("export-warning")

    # The report page's downloads say the same.
    page.goto(f"{c.base}/console/reports?year={YEAR}&unit=LAB-A")
    expect(page.locator('[data-export-warning="results"]')).to_contain_text(WARNING)

    # Recalculated from the page: the warnings go, on every card.
    c.data()
    page.locator(f"#type-{IT}").get_by_role("button", name="Recalculate").click()
    expect(page.locator(f"#type-{IT}")).to_have_attribute("data-state", "up_to_date",
                                                          timeout=60_000)
    expect(page.locator("[data-export-warning]")).to_have_count(0)
    c.data()  # and on a fresh read
    expect(page.locator("[data-export-warning]")).to_have_count(0)
    page.goto(f"{c.base}/console/reports?year={YEAR}&unit=LAB-A")
    expect(page.get_by_role("link", name=f"Download results.csv ({YEAR}, all units, all "
                                         "modules)")).to_be_visible()
    expect(page.locator("[data-export-warning]")).to_have_count(0)
