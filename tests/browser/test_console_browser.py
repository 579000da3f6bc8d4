"""The operator console in a real browser, with real work running underneath.

A recalculation is held mid-flight by a row lock on one data entry (its chunk blocks in its
foreign-key check until released), so "progress moves" and "two at once" are observed on
screen deterministically, without timing assumptions.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from carbon_domain.db.enums import JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops
from tests.console.support import (
    E_HEADER,
    EQUIPMENT,
    F_HEADER,
    IT,
    OTHER,
    SCIENTIFIC,
    YEAR,
    EntryLock,
    last_entry_id,
    run,
    seed_equipment,
)

from .conftest import Console

pytestmark = pytest.mark.integration
CSV = {"mimeType": "text/csv"}
# How long a card may wait for its run to end: the run's own time on a loaded CI machine
# (a module recalculation took over 5 s, expect's default, beside the rest of phase 2 on
# the ninth session's slower machine). What is asserted is the state shown once it ends.
RUN_ENDS = 60_000



def _open_recalc_dialog(page: Any) -> None:
    """Click "Recalculate Equipment…" once and see its dialog. A module refresh swapping the
    card in right then used to swallow the click (see
    test_a_click_just_after_a_module_refresh_opens_the_dialog); one click must do."""
    page.locator("#open-recalc-4").click()
    expect(page.locator("#recalc-dialog")).to_be_visible()


def _module_job_config() -> dict[str, Any]:
    with session_scope() as s:
        job = s.scalars(select(Job).where(Job.job_type == JobType.module_emission_recalc)
                        .order_by(Job.id.desc())).first()
        return dict(job.meta["config"])


def _card(c: Console, module: int = EQUIPMENT) -> Any:
    return c.page.locator(f"#live-{module} .pipeline-card[data-status]").first


def test_factor_upload_stale_reason_only_stale_progress_and_new_totals(
        console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=150)  # 4 chunks of ≤ 38 per type (an even count)
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    total = page.locator('#module-4-status [data-total="total"]')
    before = total.inner_text()
    page.locator("#module-4 details.uploads-box > summary").click()
    page.select_option("#det-factors-4", str(IT))
    page.set_input_files("#file-factors-4", files=[{
        "name": "it_factors.csv", **CSV,
        "buffer": (F_HEADER + "Laptop,Standard,100,10,0.4\n").encode()}])
    page.locator("#card-factors-4").get_by_role("button", name="Upload factors").click()
    result = page.locator("#result-factors-4 .pipeline-card")
    expect(result).to_have_attribute("data-status", "SUCCESS", timeout=RUN_ENDS)
    expect(result).to_contain_text("Succeeded")
    # The type turns stale with its reason; the other type stays fresh.
    reason = page.locator(f"#type-{IT} [data-reason]")
    expect(reason).to_contain_text(re.compile(
        r"factor upload #\d+ of .* by ops-alice is newer than recalculation #\d+"))
    expect(page.locator(f"#type-{SCIENTIFIC} .badge.stale")).to_have_count(0)
    c.shot("stale")

    with EntryLock(last_entry_id(IT)) as lock:
        _open_recalc_dialog(page)
        dialog = page.locator("#recalc-dialog")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_label("Only stale types")).to_be_checked()
        expect(dialog.locator(f'input[name=det][value="{IT}"]')).to_be_checked()
        expect(dialog.locator(f'input[name=det][value="{SCIENTIFIC}"]')).not_to_be_checked()
        expect(dialog).to_contain_text("150 entries to recalculate")
        dialog.get_by_role("button", name="Start recalculation").click()
        expect(dialog).to_be_hidden()
        card = _card(c)
        expect(card).to_have_attribute("data-status", "RUNNING")
        expect(card).to_contain_text(re.compile(r"chunks [123]/4"))  # progress, not done
        expect(page.locator('#module-4-status [data-marker="recalculating"]')).to_be_visible()
        c.shot("running")
        lock.release()
        expect(card).to_have_attribute("data-status", "SUCCESS", timeout=RUN_ENDS)
    expect(card).to_contain_text("Succeeded")
    expect(card).to_contain_text("chunks 4/4")
    expect(page.locator("#module-4-status .badge.stale")).to_have_count(0)
    expect(total).not_to_have_text(before)
    assert _module_job_config()["data_entry_type_ids"] == [IT]
    assert len([u for u in c.stream_requests if "year=2025" in u]) == 1  # one per page


def test_all_really_recalculates_every_type(console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=40)
    assert run(ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.2\n").encode(),
                                module=EQUIPMENT, det=IT, year=YEAR,
                                created_by="t")) == "SUCCESS"
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    _open_recalc_dialog(page)
    dialog = page.locator("#recalc-dialog")
    dialog.get_by_label("All types").check()
    for det in (SCIENTIFIC, IT, OTHER):  # the boxes follow the choice
        expect(dialog.locator(f'input[name=det][value="{det}"]')).to_be_checked()
    dialog.get_by_role("button", name="Start recalculation").click()
    card = _card(c)
    expect(card).to_have_attribute("data-status", "SUCCESS", timeout=RUN_ENDS)
    for name in ("Scientific", "IT", "Other"):
        expect(card.locator(".types-progress")).to_contain_text(name)
    cfg = _module_job_config()
    assert cfg["only_stale"] is False and cfg["data_entry_type_ids"] == [SCIENTIFIC, IT, OTHER]
    # With nothing stale the dialog says so.
    _open_recalc_dialog(page)
    expect(dialog).to_contain_text("All types are up to date")


def test_two_recalculations_at_once_both_finish_on_screen(console: Console,
                                                          tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=100)
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    page.locator("#module-4-status details.types > summary").click()
    with EntryLock(last_entry_id(SCIENTIFIC)) as a, EntryLock(last_entry_id(IT)) as b:
        for det in (SCIENTIFIC, IT):
            page.locator(f"#type-{det}").get_by_role("button", name="Recalculate").click()
        cards = page.locator("#live-4 .pipeline-card[data-status]")
        expect(cards).to_have_count(2)
        expect(page.locator('#live-4 .pipeline-card[data-status="RUNNING"]')).to_have_count(2)
        # A second click while one runs points at the running pipeline's card (highlighted,
        # with the "already in progress" message), never an error and never a second card.
        page.locator(f"#type-{IT}").get_by_role("button", name="Recalculate").click()
        it_slot = page.locator("#live-4 .pipeline-slot.highlight")
        expect(it_slot).to_have_count(1)
        expect(it_slot.locator("xpath=..").locator(".message")).to_contain_text(
            "already in progress")
        expect(page.locator("#live-4 .message.error")).to_have_count(0)
        expect(cards).to_have_count(2)
        c.shot("two-running")
        a.release()
        b.release()
    done = page.locator('#live-4 .pipeline-card[data-status="SUCCESS"]')
    expect(done).to_have_count(2)  # one card per pipeline
    assert len([u for u in c.stream_requests if "year=2025" in u]) == 1


def test_viewer_sees_but_cannot_act(console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=10, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["viewer"])
    c.data()
    expect(page.get_by_text("You are signed in as a viewer")).to_be_visible()
    page.locator("#module-4-status details.types > summary").click()
    button = page.locator(f"#type-{IT}").get_by_role("button", name="Recalculate")
    expect(button).to_be_disabled()
    expect(page.locator(f"#type-{IT} span[title]")).to_have_attribute(
        "title", re.compile("Viewers cannot recalculate"))
    _open_recalc_dialog(page)
    expect(page.locator("#recalc-dialog").get_by_role(
        "button", name="Start recalculation")).to_be_disabled()
    # Re-enabling the button by hand does not help: the server refuses with 403.
    status = page.evaluate("""async () => {
        const csrf = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
        const r = await fetch('/console/data/2025/modules/4/types/11/recalculate',
            {method: 'POST', headers: {'X-CSRF-Token': csrf}});
        return r.status; }""")
    assert status == 403
    for path in ("/console/pipelines", "/console/reports?year=2025"):
        page.goto(c.base + path)
        expect(page.locator("main h1")).to_be_visible()


def test_types_list_opened_just_before_a_refresh_stays_open(console: Console,
                                                           tokens: dict[str, str]) -> None:
    """A click that lands while a module refresh is being swapped in (a pipeline event came
    in) toggles the old list; its toggle event fires after the swap detached it and never
    reaches the document. CI caught it once as a flaky viewer test (3 in 40 timed clicks)."""
    seed_equipment(entries_per_type=10, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["viewer"])
    c.data()
    # The click lands at the last moment: in the swap's own beforeSwap, on the old box.
    page.evaluate("""() => {
        const box = document.getElementById("module-4-status");
        box.addEventListener("htmx:beforeSwap", () => box.querySelector("summary").click(),
                             {once: true});
        htmx.ajax("GET", "/console/data/2025/modules/4", {target: box, swap: "outerHTML"});
    }""")
    expect(page.locator("#module-4-status .module-head")).to_be_visible()
    expect(page.locator("#module-4-status details.types")).to_have_attribute("open", "")
    expect(page.locator(f"#type-{IT}").get_by_role("button", name="Recalculate")).to_be_visible()


def test_a_click_just_after_a_module_refresh_opens_the_dialog(console: Console,
                                                             tokens: dict[str, str]) -> None:
    """A module refresh swaps the card in; htmx wired the new card's forms only when the swap
    settled, 20 ms later. A click in between submitted the bare form: the page left for the
    dialog's fragment, unstyled, and the dialog never opened (a CI run lost a click this way).
    The click here is the next task after the swap, as an operator's would be."""
    seed_equipment(entries_per_type=10, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    url = page.url
    page.evaluate("""() => {
        const box = document.getElementById("module-4-status");
        document.addEventListener("htmx:afterSwap", function clickNext() {
            const btn = document.getElementById("open-recalc-4");
            if (!btn || btn.closest("#module-4-status") === box) return;  // not the swap yet
            document.removeEventListener("htmx:afterSwap", clickNext);
            setTimeout(() => btn.click(), 0);
        });
        htmx.ajax("GET", box.getAttribute("data-refresh-url"), {target: box, swap: "outerHTML"});
    }""")
    expect(page.locator("#recalc-dialog")).to_be_visible()
    expect(page.locator("#recalc-dialog")).to_contain_text("Start recalculation")
    assert page.url == url
    expect(page.locator("#module-4-status .module-head")).to_be_visible()


def test_bad_csv_shows_row_errors_and_unusable_file_its_message(
        console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=5, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    page.locator("#module-4 details.uploads-box > summary").click()
    page.select_option("#det-data-4", str(IT))
    bad = (E_HEADER + "UA,I-1,Laptop,Laptop,Standard,40,128\n"
           "NOPE,I-2,Laptop,Laptop,Standard,40,128\n"
           "UB,I-3,Laptop,Laptop,Standard,forty,128\n")
    page.set_input_files("#file-data-4", files=[{"name": "entries.csv", **CSV,
                                                "buffer": bad.encode()}])
    page.locator("#card-data-4").get_by_role("button", name="Upload data entries").click()
    result = page.locator("#result-data-4 .pipeline-card")
    expect(result).to_have_attribute("data-status", re.compile("SUCCESS|PARTIAL"))
    table = page.get_by_role("table", name="Row errors")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(0)).to_have_text("3")
    expect(rows.nth(1).locator("td").nth(0)).to_have_text("4")
    expect(table).to_contain_text("NOPE")
    c.shot("row-errors")
    # A file the API would refuse with 400 shows the same sentence on the card.
    page.set_input_files("#file-data-4", files=[{"name": "latin1.csv", **CSV,
                                                "buffer": "name\nCaf\xe9\n".encode("latin-1")}])
    page.locator("#card-data-4").get_by_role("button", name="Upload data entries").click()
    expect(page.locator("#result-data-4 .message.error")).to_contain_text("not UTF-8")


def test_abort_from_the_pipelines_page(console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=100, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    with EntryLock(last_entry_id(IT)):
        acc = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="t")
        page.goto(f"{c.base}/console/pipelines?status=RUNNING")
        row = page.locator(f"#row-{acc.pipeline_id}")
        expect(row).to_contain_text("Running")
        page.locator(f"#expand-{acc.pipeline_id}").click()
        detail = page.locator(f"#detail-{acc.pipeline_id}")
        expect(detail.get_by_role("table", name="Jobs")).to_be_visible()
        expect(detail.locator(".timeline")).to_contain_text("pipeline created")
        page.once("dialog", lambda d: d.accept())
        detail.get_by_role("button", name="Abort pipeline").click()
        expect(detail).to_contain_text("Aborted 1 active job(s)")
        live = page.locator(f'[data-pipeline="{acc.pipeline_id}"] .pipeline-card')
        expect(live).to_have_attribute("data-status", "ABORTED")
        expect(live).to_contain_text("Aborted")
        c.shot("aborted")
    page.goto(f"{c.base}/console/pipelines?status=ABORTED")
    expect(page.locator(".counts")).to_contain_text("Aborted: 1")


LABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')).filter(e => !e.labels || !e.labels.length)
    .map(e => e.outerHTML.slice(0, 120))"""


def test_every_page_labels_its_controls_and_escapes_names(console: Console,
                                                          tokens: dict[str, str]) -> None:
    units = ("institutional_code,institutional_id,name,level,parent_institutional_code\n"
             'LAB-X,UX,"<script>window.__xss=1</script>",4,\n'
             'LAB-Y,UY,""" onmouseover=""window.__xss=2",4,\n')
    assert run(ops.start_upload("units", units.encode(), year=YEAR, created_by="t")) == "SUCCESS"
    # One entry, so the year has something to recalculate and the dialog opens.
    assert run(ops.start_upload("data-entries", (E_HEADER + "UX,I-1,Laptop,Laptop,Standard,40,20\n"
                                                 ).encode(), module=EQUIPMENT, det=IT,
                                year=YEAR, created_by="t")) == "SUCCESS"
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    assert page.evaluate(LABELLED) == []
    _open_recalc_dialog(page)
    expect(page.locator("#recalc-dialog")).to_be_visible()
    assert page.evaluate(LABELLED) == []
    page.keyboard.press("Escape")  # the dialog is keyboard-usable
    expect(page.locator("#recalc-dialog")).to_be_hidden()
    for path in ("/console/pipelines", "/console/reports?year=2025&unit=LAB-X"):
        page.goto(c.base + path)
        assert page.evaluate(LABELLED) == [], path
    expect(page.locator("main h2").first).to_have_text(
        "<script>window.__xss=1</script> (LAB-X)")
    page.goto(c.base + "/console/reports?year=2025&unit=LAB-Y")
    expect(page.locator("main h2").first).to_contain_text('" onmouseover="window.__xss=2')
    page.locator("main h2").first.hover()
    assert page.evaluate("window.__xss") is None
