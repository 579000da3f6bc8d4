"""Discarding a preview that another tab has applied says that its file was applied, in a
real browser.

An operator keeps the impact preview panel open in two tabs, applies it in one, and later
clicks "Discard" in the other (its panel still offers both buttons). Before, the answer was
"Preview 1 discarded: nothing of its file was applied." — while its file had been uploaded
and recalculated (the factors and every kg had changed). Discarding forgets the preview; it
undoes nothing, and the answer now says so, with the upload to revert.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.console.support import EQUIPMENT

from .conftest import Console
from .test_preview_browser import _laptops_and_desktops, _preview

pytestmark = pytest.mark.integration


def test_discarding_a_preview_applied_in_another_tab_says_it_was_applied(
        console: Console, tokens: dict[str, str]) -> None:
    _laptops_and_desktops()
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    _panel, pid = _preview(c)
    other = page.context.new_page()  # a second tab on the same preview, same session
    other.goto(f"{c.base}/console/previews/{pid}")
    expect(other.get_by_role("button", name="Discard")).to_be_visible()

    page.get_by_role("button", name="Apply: upload and recalculate").click()
    card = page.locator(f"#preview-actions-{pid} .pipeline-card[data-status]")
    expect(card).to_have_attribute("data-status", "SUCCESS", timeout=60_000)
    applied = page.locator(f"#preview-actions-{pid}").inner_text()
    job = applied.split("job ")[1].split(" ")[0]
    assert job.isdigit(), applied

    other.get_by_role("button", name="Discard").click()
    said = other.locator("main .message")
    expect(said).to_have_text(
        f"Preview {pid} discarded. Its file was applied already (factor upload job {job}):"
        f" discarding undoes nothing of it; revert job {job} to undo it.")
    expect(other.locator("main")).not_to_contain_text("nothing of its file was applied")
    expect(page.locator(f"#module-{EQUIPMENT}")).to_be_visible()
    other.close()
