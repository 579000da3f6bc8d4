"""A type with factors but no entries reads "✓ up to date (no entries)" on the console, in a
real browser, and its recalculation dialog calls the module up to date. Before, its row read
"⚠ needs recalculation" with "never recalculated since factor upload #…", the module
"⚠ 1 type needs recalculation", and the dialog offered to recalculate its 0 entries. Once its
entries land (and are recalculated), the row follows live: "✓ up to date" with its entries.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from carbon_domain.services.reads.display_state import (
    LABEL,
    UP_TO_DATE_NO_ENTRIES,
    DisplayState,
)
from carbon_tasks import operations as ops
from tests.console.support import (
    E_HEADER,
    ENTRY,
    EQUIPMENT,
    F_HEADER,
    FACTORS,
    IT,
    SCIENTIFIC,
    YEAR,
    run,
    seed_equipment,
)

from .conftest import Console

pytestmark = pytest.mark.integration


def test_a_type_with_factors_and_no_entries_reads_up_to_date_no_entries(
        console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=5, types=(SCIENTIFIC,))
    assert run(ops.start_upload("factors", (F_HEADER + FACTORS[IT]).encode(), module=EQUIPMENT,
                                det=IT, year=YEAR, created_by="alice")) == "SUCCESS"
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    row = page.locator(f"#type-{IT}")
    expect(row).to_have_attribute("data-state", "up_to_date")
    expect(row).to_have_attribute("data-stale", "0")
    expect(row.locator("[data-state-badge]")).to_have_text(UP_TO_DATE_NO_ENTRIES)
    expect(row).not_to_contain_text("needs recalculation")
    expect(row).not_to_contain_text("never recalculated")
    expect(page.locator("#module-4-status [data-module-state]")).to_have_text(
        LABEL[DisplayState.up_to_date])
    c.shot("factors-only")

    page.locator("#open-recalc-4").click()
    dialog = page.locator("#recalc-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#all-up-to-date")).to_have_text("All types are up to date.")
    expect(dialog).not_to_contain_text("needs recalculation")
    expect(dialog.locator(f"#scope-{IT}")).not_to_contain_text("0 of")
    c.shot("dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    # Its entries land and are recalculated: the row follows, with them.
    rows = "".join(f"U{'AB'[i % 2]},E{IT}-{i},{ENTRY[IT]},10,20\n" for i in range(3))
    assert run(ops.start_upload("data-entries", (E_HEADER + rows).encode(), module=EQUIPMENT,
                                det=IT, year=YEAR, created_by="alice")) == "SUCCESS"
    expect(row.locator("[data-state-badge]")).to_have_text(LABEL[DisplayState.up_to_date],
                                                           timeout=30_000)
    expect(row.locator("td.num").first).to_contain_text("3")
