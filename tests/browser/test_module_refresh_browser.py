"""The data page's module cards follow every pipeline that changes them, without a reload:
a reference upload (a pipeline of no module) makes the types that read it stale in their
own module's card, and an upload's types read "recalculating" while its recalculation runs,
not only once it has ended. Real browser, live server and worker; the uploads are started
from outside the page, as another tab or the CLI would."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.settings import get_settings
from carbon_tasks import operations as ops
from tests.console.support import (
    E_HEADER,
    EQUIPMENT,
    IT,
    YEAR,
    EntryLock,
    last_entry_id,
    run,
    seed_equipment,
)
from tests.integration.helpers import UNITS_CSV

from .conftest import Console

pytestmark = pytest.mark.integration
BUILDINGS = 3
BUILDING_FACTORS = ("building_name,room_type,ef_kg_co2eq_per_kwh,heating_kwh_per_square_meter,"
                    "lighting_kwh_per_square_meter,energy_type\nBC,office,0.1,30,5,electric\n")
BUILDING_ENTRIES = ("unit_institutional_id,building_name,room_name,room_type\n"
                    "UA,BC,BC 1,office\n")
ROOMS = "building_name,room_name,room_type,room_surface_square_meter\nBC,BC 1,office,{}\n"

# Every state a type row of the equipment card shows, in order, with the pipeline card's
# status at that moment.
OBSERVE_TYPE = """(det) => {
    window.__states = [];
    const record = () => {
        const row = document.getElementById("type-" + det);
        const card = document.querySelector("#live-4 .pipeline-card[data-status]");
        const state = row ? row.getAttribute("data-state") : null;
        const last = window.__states[window.__states.length - 1];
        if (state && (!last || last.state !== state))
            window.__states.push({state: state,
                                  card: card ? card.getAttribute("data-status") : null});
    };
    record();
    new MutationObserver(record).observe(document.getElementById("main"),
        {subtree: true, childList: true, attributes: true});
}"""


def _ok(acc: Any) -> None:
    assert run(acc) == "SUCCESS"


def test_a_reference_upload_turns_the_types_reading_it_stale_on_the_open_page(
        console: Console, tokens: dict[str, str]) -> None:
    _ok(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="seed"))
    _ok(ops.start_upload("building-rooms", ROOMS.format(20).encode(), created_by="seed"))
    _ok(ops.start_upload("factors", BUILDING_FACTORS.encode(), module=BUILDINGS,
                         det=D.building, year=YEAR, created_by="seed"))
    _ok(ops.start_upload("data-entries", BUILDING_ENTRIES.encode(), module=BUILDINGS,
                         det=D.building, year=YEAR, created_by="seed"))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    row = page.locator(f"#type-{D.building.value}")
    expect(row).to_have_attribute("data-state", "up_to_date")
    module = page.locator(f"#module-{BUILDINGS}-status [data-module-state]")
    expect(module).to_have_attribute("data-module-state", "up_to_date")

    # A room's surface changes: the building type's numbers are out of date. The upload has
    # no module; the page learns about it from its stream and must re-read the cards.
    _ok(ops.start_upload("building-rooms", ROOMS.format(35).encode(), created_by="bob"))
    expect(row).to_have_attribute("data-state", "needs_recalculation")
    expect(row.locator("[data-reason]")).to_contain_text("building-rooms upload")
    expect(module).to_have_attribute("data-module-state", "needs_recalculation")
    # The equipment card (nothing there reads rooms) is re-read too, and stays as it was.
    expect(page.locator(f"#module-{EQUIPMENT}-status .badge.state-needs_recalculation")
           ).to_have_count(0)


def test_an_uploads_types_read_recalculating_while_its_recalculation_runs(
        console: Console, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    seed_equipment(entries_per_type=40, types=(IT,))
    # Small chunks: the recalculation of 1,500 entries lasts a few seconds.
    monkeypatch.setattr(get_settings(), "chunk_size", 20)
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    row = page.locator(f"#type-{IT}")
    expect(row).to_have_attribute("data-state", "up_to_date")
    page.evaluate(OBSERVE_TYPE, IT)
    rows = "".join(f"U{'AB'[i % 2]},N{i},Laptop,Laptop,Standard,{10 + i % 5},20\n"
                   for i in range(1500))
    # The upload replaces the type's entries: it waits on the held entry, so its card is
    # on the page (and its module card re-read) while it is still ingesting.
    with EntryLock(last_entry_id(IT)) as lock:
        acc = ops.start_upload("data-entries", (E_HEADER + rows).encode(), module=EQUIPMENT,
                               det=IT, year=YEAR, created_by="bob")
        card = page.locator("#live-4 .pipeline-card[data-status]").first
        expect(card).to_have_attribute("data-status", "RUNNING")
        page.wait_for_timeout(500)  # the stream's first events are in
        lock.release()
    expect(card).to_have_attribute("data-status", "SUCCESS", timeout=120_000)
    assert run(acc) == "SUCCESS"
    states = page.evaluate("window.__states")
    during = [s["state"] for s in states if s["card"] == "RUNNING"]
    assert "recalculating" in during, states
    expect(row).to_have_attribute("data-state", "up_to_date")
    expect(row.locator("td.num").first).to_contain_text("1,500")
