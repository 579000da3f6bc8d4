"""The impact preview panel and the drill-down in a real browser (Chromium), with the real
worker underneath: "Preview impact" on the factor card, the panel's figures equal to the
API's preview, sorting, Apply → SUCCESS and the new kg; Discard; and the walk module →
units → a unit's entries → one entry explained."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from carbon_tasks import operations as ops
from tests.console.support import (
    E_HEADER,
    EQUIPMENT,
    F_HEADER,
    IT,
    SCIENTIFIC,
    YEAR,
    run,
    seed_equipment,
)

from .conftest import SHOTS, Console

pytestmark = pytest.mark.integration
REVISED = (F_HEADER + "Laptop,Standard,100,10,0.3\n").encode()
# `CARBON_DOCS_SHOTS=1` also writes the panel's picture for docs/console.md.
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "console" / "preview-panel.png"


def _api(c: Console, token: str, path: str) -> httpx.Response:
    return httpx.get(c.base + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _preview(c: Console) -> tuple[Any, int]:
    """Choose the revised IT factor file on module 4's card, click "Preview impact" and wait
    for the panel that replaces the live card when the preview job ends."""
    page = c.page
    page.locator(f"#module-{EQUIPMENT} details.uploads-box > summary").click()
    page.select_option(f"#det-factors-{EQUIPMENT}", str(IT))
    page.set_input_files(f"#file-factors-{EQUIPMENT}", files=[{
        "name": "it_revised.csv", "mimeType": "text/csv", "buffer": REVISED}])
    page.locator(f"#card-factors-{EQUIPMENT}").get_by_role("button",
                                                          name="Preview impact").click()
    panel = page.locator(f"#result-factors-{EQUIPMENT} section.preview-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("table", name="Change by module")).to_be_visible()
    return panel, int(panel.get_attribute("data-preview") or 0)


def _kg(v: float) -> str:
    return f"{v:,.3f}"


def _laptops_and_desktops() -> None:
    """8 laptops and 2 desktops with their factors: the revised file (laptops only, replace
    mode) triples the laptops and leaves the desktops without a factor."""
    seed_equipment(entries_per_type=2, types=(IT,))
    assert run(ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.1\n"
                                            "Desktop,,150,15,0.1\n").encode(),
                                module=EQUIPMENT, det=IT, year=YEAR, created_by="seed")) \
        == "SUCCESS"
    rows = "".join(f"U{'AB'[i % 2]},L-{i},Laptop {i},Laptop,Standard,{10 + i % 5},20\n"
                   for i in range(8)) + ("UA,D-1,Desktop 1,Desktop,,40,60\n"
                                         "UB,D-2,Desktop 2,Desktop,,30,60\n")
    assert run(ops.start_upload("data-entries", (E_HEADER + rows).encode(), module=EQUIPMENT,
                                det=IT, year=YEAR, created_by="seed")) == "SUCCESS"


def test_preview_shows_the_api_figures_then_apply(console: Console,
                                                  tokens: dict[str, str]) -> None:
    _laptops_and_desktops()
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    panel, pid = _preview(c)
    fig = _api(c, tokens["viewer"], f"/v1/sync/previews/{pid}").json()["figures"]

    t = fig["total"]
    expect(panel.locator(".preview-total")).to_contain_text(
        f"{_kg(t['before'])} → {_kg(t['after'])} kg CO2-eq ({t['delta']:+,.3f}")
    assert float(panel.locator(".preview-total").get_attribute("data-after") or 0) == t["after"]
    module = panel.get_by_role("table", name="Change by module").locator("tbody tr")
    expect(module).to_have_count(1)
    m = fig["by_module"][0]
    expect(module.locator("td")).to_have_text(["Equipment", _kg(m["before"]), _kg(m["after"]),
                                               f"{m['delta']:+,.3f}",
                                               f"{m['delta'] / m['before']:+.2%}"])
    units = panel.get_by_role("table", name="Change by unit").locator("tbody tr")
    expect(units).to_have_count(len(fig["by_unit"]))
    shown = {units.nth(i).locator("td").nth(0).inner_text():
             [units.nth(i).locator("td").nth(k).inner_text() for k in (1, 2, 3)]
             for i in range(units.count())}
    assert shown == {u["unit"]: [_kg(u["before"]), _kg(u["after"]), f"{u['delta']:+,.3f}"]
                     for u in fig["by_unit"]}
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SHOTS / "preview-panel.png"))
    if os.environ.get("CARBON_DOCS_SHOTS") == "1":
        panel.screenshot(path=str(DOCS_SHOT))
    # Sortable: Unit ascending, then descending.
    unit_header = panel.get_by_role("table", name="Change by unit").get_by_role(
        "button", name="Unit")
    unit_header.click()
    codes = sorted(u["unit"] for u in fig["by_unit"])
    expect(units.locator("td:first-child")).to_have_text(codes)
    unit_header.click()
    expect(units.locator("td:first-child")).to_have_text(codes[::-1])
    top = panel.get_by_role("table", name="Largest changes").locator("tbody tr")
    expect(top).to_have_count(len(fig["top_changes"]))
    first = fig["top_changes"][0]
    expect(top.first.locator("td").nth(0)).to_have_text(str(first["data_entry_id"]))
    expect(top.first.locator("td").nth(3)).to_have_text(_kg(first["after"]))
    # The two desktops lose their factor: red in the top changes and listed below.
    losing = sorted(c["data_entry_id"] for c in fig["losing_factor"])
    assert len(losing) == 2
    red = top.locator("xpath=self::tr[contains(@class, 'losing')]")
    expect(red).to_have_count(2)
    assert sorted(int(red.nth(i).get_attribute("data-entry") or 0) for i in range(2)) == losing
    assert red.first.locator("td").first.evaluate("e => getComputedStyle(e).color") \
        == "rgb(180, 35, 24)"  # --err
    expect(panel.get_by_role("table", name="Entries losing their factor").locator(
        "tbody tr")).to_have_count(2)
    expect(panel).to_contain_text("2 entries would lose their factor")
    assert len([u for u in c.stream_requests]) == 1  # the page's one stream, nothing more

    # Apply: the normal upload + recalculation, shown as usual, ends SUCCESS.
    panel.get_by_role("button", name="Apply: upload and recalculate").click()
    card = page.locator(f"#preview-actions-{pid} .pipeline-card[data-status]")
    expect(card).to_have_attribute("data-status", "SUCCESS", timeout=60_000)
    expect(card).to_contain_text("Succeeded")
    expect(page.locator(f"#module-{EQUIPMENT}-status [data-total=total]")).to_have_text(
        f"{m['after'] / 1000:,.2f}")
    # The new kg of the laptop that grew most, on its unit's entries page; the desktop of
    # that unit now has no row, and says why.
    grown = next(c for c in fig["top_changes"] if c["factor_after"] is not None)
    page.locator(f"#drill-{EQUIPMENT}").click()
    page.get_by_role("link", name=grown["unit"], exact=True).click()
    row = page.locator(f'tr[data-entry="{grown["data_entry_id"]}"]')
    expect(row.locator("[data-kg]")).to_have_text(_kg(grown["after"]))
    lost = next(c for c in fig["losing_factor"] if c["unit"] == grown["unit"])
    row = page.locator(f'tr[data-entry="{lost["data_entry_id"]}"]')
    expect(row.locator("[data-kg]")).to_have_text("—")
    expect(row.locator(".reason-none")).to_contain_text("no factor")
    assert len(c.stream_requests) == 1  # the drill pages open no stream


def test_discard_applies_nothing(console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=4, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    total = page.locator(f"#module-{EQUIPMENT}-status [data-total=total]").inner_text()
    panel, pid = _preview(c)
    panel.get_by_role("button", name="Discard").click()
    expect(page.locator(f"#result-factors-{EQUIPMENT}")).to_contain_text(
        f"Preview {pid} discarded: nothing of its file was applied.")
    expect(page.locator("section.preview-panel")).to_have_count(0)
    assert _api(c, tokens["viewer"], f"/v1/sync/previews/{pid}").status_code == 404
    factors = _api(c, tokens["viewer"], f"/v1/factors?year={YEAR}").json()
    assert [f["values"]["ef_kg_co2eq_per_kwh"] for f in factors["items"]] == [0.1]
    page.reload()
    expect(page.locator(f"#module-{EQUIPMENT}-status [data-total=total]")).to_have_text(total)


def test_drill_down_walk(console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=6, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["viewer"])
    c.data()
    page.locator(f"#drill-{EQUIPMENT}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Equipment · {YEAR} · entries by unit")
    page.get_by_role("link", name="LAB-A", exact=True).click()
    entries = page.get_by_role("table", name="Entries").locator("tbody tr")
    expect(entries).to_have_count(3)
    kg = entries.first.locator("[data-kg]").inner_text()
    entry = entries.first.get_attribute("data-entry")
    entries.first.get_by_role("link", name=f"Explain entry {entry}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Entry {entry}")
    formula = page.get_by_role("table", name="Formula inputs")
    expect(formula).to_contain_text("ef_kg_co2eq_per_kwh = 0.1")
    assert f"{float(formula.locator('[data-kg]').get_attribute('data-kg') or 0):,.3f}" == kg
    page.locator("#trail-entries").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"LAB-A · Equipment · {YEAR}")
    c.shot("drill-walk")


GREEN = "rgb(30, 123, 52)"  # --ok
# The demo's IT factor file names its type in every row: chosen as Scientific, every row is
# refused and the job ends ERROR.
IT_FILE = ("data_entry_type," + F_HEADER + "it,Laptop,Standard,100,10,0.3\n"
           "it,Desktop,,150,15,0.3\n").encode()


def _choose(c: Console, det: int, body: bytes) -> None:
    page = c.page
    page.locator(f"#module-{EQUIPMENT} details.uploads-box > summary").click()
    page.select_option(f"#det-factors-{EQUIPMENT}", str(det))
    page.set_input_files(f"#file-factors-{EQUIPMENT}", files=[{
        "name": "it_on_scientific.csv", "mimeType": "text/csv", "buffer": body}])


def test_a_failed_preview_and_a_failed_upload_show_their_end_state(
        console: Console, tokens: dict[str, str]) -> None:
    """IT factors previewed, then uploaded, as Scientific: both jobs end ERROR. The preview
    panel shows its pipeline's real end ("✗ Failed", not a blue "⟳ finished" chip) and no
    green "accepted" box stays above it; the upload's card says "✗ Failed" and its
    "accepted" note is no longer green."""
    seed_equipment(entries_per_type=2, types=(SCIENTIFIC, IT))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    _choose(c, SCIENTIFIC, IT_FILE)
    page.locator(f"#card-factors-{EQUIPMENT}").get_by_role("button",
                                                          name="Preview impact").click()
    result = page.locator(f"#result-factors-{EQUIPMENT}")
    panel = result.locator("section.preview-panel")
    expect(panel.get_by_role("alert")).to_contain_text("The preview has no figures")
    card = panel.locator(".pipeline-card")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-status", "FAILED")
    expect(card.locator(".head .chip")).to_have_text("✗ Failed")
    expect(panel.locator(".chip.RUNNING")).to_have_count(0)
    expect(panel).not_to_contain_text("⟳")
    expect(result.locator(".message.ok")).to_have_count(0)  # "… preview accepted" is gone
    # The panel as a page (a reload, a link) says the same.
    pid = panel.get_attribute("data-preview")
    c.shot("preview-failed")
    page.goto(f"{c.base}/console/previews/{pid}")
    expect(page.locator(".pipeline-card .head .chip")).to_have_text("✗ Failed")
    expect(page.locator(".chip.RUNNING")).to_have_count(0)

    c.data()
    _choose(c, SCIENTIFIC, IT_FILE)
    page.locator(f"#card-factors-{EQUIPMENT}").get_by_role("button",
                                                          name="Upload factors").click()
    upload = result.locator(".pipeline-card[data-status]")
    expect(upload).to_have_attribute("data-status", "FAILED")
    expect(upload.locator(".head .chip")).to_have_text("✗ Failed")
    note = result.locator(".message.ok")
    expect(note).to_contain_text("upload accepted")
    expect(note).not_to_have_css("color", GREEN)
    expect(note).not_to_have_css("border-color", GREEN)
    c.shot("upload-failed")
