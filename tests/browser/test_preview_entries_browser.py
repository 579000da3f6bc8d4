"""A data entry preview in the console (Chromium, the real worker underneath): "Preview this
revert" on a data upload's pipeline opens a panel that says how many of the entries the
revert would load no factor matches, as the API's figures (`without_factor`) and the CLI say.

Before, the panel said "Factors: 0 inserted, 0 updated, 0 retired, 0 revived, 0 unchanged.
No entry loses its factor." and its entries table had only "Would lose their factor" (always
0: a data entry upload replaces the entries), so two entries without a factor were nowhere."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from carbon_tasks import operations as ops
from tests.console.support import E_HEADER, EQUIPMENT, IT, YEAR, run, seed_equipment

from .conftest import Console

pytestmark = pytest.mark.integration
SAID = "2 entries without a matching factor (they will have no emission rows)."
# Two laptops with their factor (seed_equipment's "Laptop,Standard"), a tablet and a phone
# without one.
UNMATCHED = E_HEADER + "".join(f"U{'AB'[i % 2]},N-{i},{c} {i},{c},{sub},{10 + i},20\n"
                               for i, (c, sub) in enumerate([
                                   ("Laptop", "Standard"), ("Tablet", ""),
                                   ("Laptop", "Standard"), ("Phone", "")]))


def _upload(body: str) -> ops.Accepted:
    acc = ops.start_upload("data-entries", body.encode(), module=EQUIPMENT, det=IT, year=YEAR,
                           created_by="seed")
    assert run(acc) in ("SUCCESS", "PARTIAL")
    return acc


def test_a_data_entry_revert_preview_says_its_entries_without_a_factor(
        console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=3, types=(IT,))
    _upload(UNMATCHED)
    matched = _upload(E_HEADER + "UA,M-1,Laptop 1,Laptop,Standard,12,20\n")
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    page.goto(f"{c.base}/console/pipelines?focus={matched.pipeline_id}")
    # Its row is on the first page: its Details open there.
    page.locator(f"#pd-{matched.pipeline_id}").get_by_role(
        "button", name="Preview this revert").click()
    page.wait_for_url("**/console/previews/*")
    panel = page.locator("section.preview-panel")
    expect(panel.get_by_role("table", name="Change by module")).to_be_visible(timeout=60_000)
    pid = int(panel.get_attribute("data-preview") or 0)
    fig: dict[str, Any] = httpx.get(
        f"{c.base}/v1/sync/previews/{pid}", timeout=30,
        headers={"Authorization": f"Bearer {tokens['viewer']}"}).json()["figures"]
    (types,) = fig["entries"]
    assert (types["entries_before"], types["entries"], types["without_factor"]) == (1, 4, 2)

    said = panel.locator(f"#preview-without-factor-{pid}")
    expect(said).to_have_text(SAID)
    assert said.evaluate("e => getComputedStyle(e).color") == "rgb(180, 35, 24)"  # --err
    expect(panel).to_contain_text("Entries: 1 replaced by 4.")
    expect(panel).not_to_contain_text("No entry loses its factor")
    row = panel.get_by_role("table", name="Entries by type").locator("tbody tr")
    expect(row.locator("td")).to_have_text(["IT", "1", "4", "2"])
    header = panel.get_by_role("table", name="Entries by type").locator("thead th")
    expect(header).to_have_text(["Type", "Entries now", "Entries after",
                                 "Without a matching factor"])
    # The largest changes are per unit and type (the entries get new ids): no "None" entry
    # linking to /console/entries/None, no "none → no factor".
    top = panel.get_by_role("table", name="Largest changes")
    expect(top.locator("thead th").first).to_have_text("Type")
    expect(top.locator("tbody tr")).to_have_count(len(fig["top_changes"]))
    expect(top).not_to_contain_text("None")
    expect(top).not_to_contain_text("no factor")
    lab_b = next(t for t in fig["top_changes"] if t["unit"] == "LAB-B")
    expect(top.locator(f"tbody tr[data-unit='{lab_b['unit_id']}'] td")).to_have_text(
        ["IT", "LAB-B", "0.000", "0.000", "+0.000", "—",
         f"{lab_b['entries_before']} → {lab_b['entries_after']} entries"])
