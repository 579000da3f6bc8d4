"""The data page a newcomer meets, in a real browser on the live server and worker: where
sign-in lands, what an empty year says, the upload cards' columns and template CSVs, Back
after sign-out, and progress that visibly moves during a realistic run."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from carbon_domain.csv_rows.template_columns import upload_columns
from carbon_domain.settings import Settings, get_settings
from tests.console.support import EQUIPMENT, IT, YEAR, seed_equipment

from .conftest import Console

pytestmark = pytest.mark.integration
EMPTY = YEAR + 1
HEADCOUNT = 1


def test_sign_in_and_reports_land_on_the_latest_year_with_data(
        console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=5, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    assert page.url == f"{c.base}/console/data/{YEAR}"
    expect(page.locator("main h1")).to_contain_text(f"Data management · {YEAR}")
    page.goto(c.base + "/console/pipelines")
    page.get_by_role("link", name="Reports").click()
    expect(page.locator("main h1")).to_have_text(f"Report · {YEAR}")
    page.get_by_role("link", name="Data management").click()
    page.wait_for_url(f"**/console/data/{YEAR}")


def test_an_empty_year_says_why_and_its_buttons_are_disabled(
        console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=5, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data(EMPTY)
    why = f"Nothing to recalculate for {EMPTY}: no factors and no entries for {EMPTY}"
    expect(page.locator("#year-empty")).to_contain_text(why)
    expect(page.locator("#latest-year")).to_have_attribute("href", f"/console/data/{YEAR}")
    opener = page.locator(f"#open-recalc-{EQUIPMENT}")
    expect(opener).to_be_disabled()
    expect(opener.locator("xpath=..")).to_have_attribute("title", why)
    page.locator(f"#module-{EQUIPMENT}-status details.types > summary").click()
    button = page.locator(f"#type-{IT}").get_by_role("button", name="Recalculate")
    expect(button).to_be_disabled()
    expect(button.locator("xpath=..")).to_have_attribute("title", why)
    c.shot("empty-year")
    # The year with data keeps them enabled.
    c.data(YEAR)
    expect(page.locator(f"#open-recalc-{EQUIPMENT}")).to_be_enabled()
    expect(page.locator("#year-empty")).to_have_count(0)


def test_a_module_without_entries_says_so_beside_its_zero_totals(
        console: Console, tokens: dict[str, str]) -> None:
    """Every module card of an empty year, and of a module nothing was uploaded for, said
    "✓ up to date" beside "Total 0.00 t CO2-eq" and "stats as of —", as if a total had been
    computed; its types said "✓ up to date (no entries)". The card says it as its types do."""
    seed_equipment(entries_per_type=5, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])

    def badge(module: int) -> Any:
        return page.locator(f"#module-{module}-status [data-module-state]")

    c.data(EMPTY)
    expect(badge(EQUIPMENT)).to_have_text("✓ up to date (no entries)")
    expect(badge(HEADCOUNT)).to_have_text("✓ up to date (no entries)")
    c.data(YEAR)
    expect(badge(EQUIPMENT)).to_have_text("✓ up to date")  # 5 IT entries, computed
    expect(badge(HEADCOUNT)).to_have_text("✓ up to date (no entries)")
    c.shot("no-entries")


def test_upload_cards_state_their_columns_and_offer_a_template(
        console: Console, tokens: dict[str, str], tmp_path: Path) -> None:
    seed_equipment(entries_per_type=5, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    page.locator(f"#module-{EQUIPMENT} details.uploads-box > summary").click()
    card = page.locator(f"#card-factors-{EQUIPMENT}")
    card.locator("details.columns > summary").click()
    it_line = card.locator(f'details.columns li[data-det="{IT}"]')
    expected = upload_columns("factors", EQUIPMENT, IT)
    expect(it_line).to_contain_text("required: " + ", ".join(expected.required))
    expect(it_line).to_contain_text("optional: " + ", ".join(expected.optional))
    expect(card.get_by_label("Allow unknown columns")).not_to_be_checked()
    with page.expect_download() as info:
        it_line.get_by_role("link", name="template CSV").click()
    download = info.value
    assert download.suggested_filename == "template_factors_equipment_it.csv"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.read_text(encoding="utf-8").splitlines() == [",".join(expected.header)]
    # A reference card too: the units template is what a units upload reads.
    page.locator("#reference-box > summary").click()
    units = page.locator("#card-ref-units")
    units.locator("details.columns > summary").click()
    with page.expect_download() as info:
        units.get_by_role("link", name="template CSV").click()
    info.value.save_as(tmp_path / "units.csv")
    assert (tmp_path / "units.csv").read_text().strip() == ",".join(
        upload_columns("units").header)


def test_back_after_sign_out_shows_the_sign_in_page(console: Console,
                                                    tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=5, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    expect(page.locator(f"#module-{EQUIPMENT}-status")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    # The URL, polled: two navigations can race to /login (the sign-out's redirect, and a
    # module refresh that the sign-out answered 401 with HX-Redirect), and a wait for one
    # navigation event timed out in a CI run although the page had loaded /login twice.
    expect(page).to_have_url(re.compile(r"/login$"), timeout=30_000)
    page.go_back()
    page.wait_for_load_state()
    expect(page.get_by_label("API token")).to_be_visible()
    assert "/login" in page.url
    expect(page.locator(f"#module-{EQUIPMENT}-status")).to_have_count(0)



def test_a_refresh_answered_after_sign_out_does_not_redirect_the_page(
        console: Console, tokens: dict[str, str]) -> None:
    """Signing out while a module refresh is in flight: the refresh reaches the server after
    the session is gone and is answered 401 with HX-Redirect to /login?next=<the fragment>.
    Followed, it raced the sign-out's own redirect and could win (a CI run ended on
    /login?next=/console/data/2025/modules/4). Here both requests are held in the browser:
    the session is ended, the refresh answered (401), and only then the sign-out."""
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope

    seed_equipment(entries_per_type=5, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    data_url = page.url
    held: dict[str, Any] = {}
    page.route("**/logout", lambda route: held.setdefault("logout", route))
    page.route("**/console/data/2025/modules/4",
               lambda route: held.setdefault("refresh", route))
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status)
            if "refresh" in held and r.request == held["refresh"].request else None)
    # The refresh leaves with the sign-out, as one a stream event had just started would.
    page.evaluate("""() => document.querySelector("form[data-sign-out]").addEventListener(
        "submit", () => {
            const box = document.getElementById("module-4-status");
            htmx.ajax("GET", box.getAttribute("data-refresh-url"),
                      {target: box, swap: "outerHTML"});
        })""")
    page.get_by_role("button", name="Sign out").click(no_wait_after=True)
    deadline = time.monotonic() + 10
    while len(held) < 2:
        assert time.monotonic() < deadline, held
        page.wait_for_timeout(50)
    with session_scope() as s:  # what the sign-out does on the server, done first
        s.execute(text("DELETE FROM console_sessions"))
    held["refresh"].continue_()
    while not answers:
        assert time.monotonic() < deadline
        page.wait_for_timeout(50)
    assert answers == [401]
    page.wait_for_timeout(800)
    assert page.url == data_url  # the 401's redirect was not followed
    held["logout"].continue_()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("API token")).to_be_visible()

OBSERVE = """() => {
    window.__seen = [];
    const live = document.getElementById("live-4");
    const record = () => {
        const card = live.querySelector(".pipeline-card[data-status]");
        if (!card) return;
        const text = card.innerText;
        const last = window.__seen[window.__seen.length - 1];
        if (!last || last.text !== text)
            window.__seen.push({at: Date.now(), text: text,
                                status: card.getAttribute("data-status")});
    };
    new MutationObserver(record).observe(live, {subtree: true, childList: true,
                                                characterData: true, attributes: true});
}"""


def _moving(seen: list[dict[str, Any]]) -> list[tuple[float, int]]:
    """(epoch time, chunks done) of each distinct card while chunks were finishing."""
    out = []
    for s in seen:
        m = re.search(r"chunks (\d+)/(\d+)", s["text"])
        if s["status"] == "RUNNING" and m and 0 < int(m[1]) < int(m[2]):
            out.append((s["at"] / 1000.0, int(m[1])))
    return out


def _chunk_finish_times() -> list[float]:
    """When each chunk of the last recalculation job finished (epoch seconds, in order), as
    the chunks recorded it in the same transaction that marked them done."""
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope

    with session_scope() as s:
        return [t.timestamp() for (t,) in s.execute(text(
            "SELECT finished_at FROM recalc_chunks WHERE job_id = "
            "(SELECT max(job_id) FROM recalc_chunks) AND done ORDER BY finished_at"))]


def test_progress_shows_finished_chunks_within_half_a_second(
        console: Console, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The page keeps up with the work: the chunks the workers finish are counted on the
    card half a second after at most, as a rule (the stream wakes on pipeline notices and
    polls at least every 0.5 s while a pipeline runs), and none 2 s or more late (a stall).
    Measured against each chunk's own finish time, so a pause of the workers is not charged
    to the page, and a pause of the page is caught whatever the workers do. The worst case
    is not held to the rule: on a loaded machine the server's own poll waits for a core
    (1.05-1.12 s for two chunks of 200 in a CI run with three other test runs beside it,
    2026-12-07)."""
    seed_equipment(entries_per_type=4000, types=(IT,))
    # The production pace of the page's stream (the suite's browser tests poll faster), and
    # small chunks so a few thousand entries take a couple of seconds.
    default = Settings.model_fields["sse_poll_seconds"].default
    monkeypatch.setattr(get_settings(), "sse_poll_seconds", default)
    monkeypatch.setattr(get_settings(), "chunk_size", 20)
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    page.evaluate(OBSERVE)
    page.locator(f"#module-{EQUIPMENT}-status details.types > summary").click()
    page.locator(f"#type-{IT}").get_by_role("button", name="Recalculate").click()
    card = page.locator(f"#live-{EQUIPMENT} .pipeline-card[data-status]").first
    expect(card).to_have_attribute("data-status", "SUCCESS", timeout=120_000)
    moving = _moving(page.evaluate("window.__seen"))
    assert len(moving) >= 3, f"too few progress updates to measure: {moving}"
    # Counts only go forward.
    assert [n for _, n in moving] == sorted(n for _, n in moving)
    finished = _chunk_finish_times()
    assert len(finished) > moving[-1][1], (len(finished), moving[-1])
    lag = []  # (chunk, seconds between its finish and the page counting it)
    for k in range(moving[0][1], moving[-1][1] + 1):
        shown = next(at for at, n in moving if n >= k)  # when the page first counted chunk k
        lag.append((k, round(shown - finished[k - 1], 3)))
    seconds = sorted(s for _, s in lag)
    assert seconds[len(seconds) // 2] < 0.5, f"median lag {seconds[len(seconds) // 2]} s: {lag}"
    assert seconds[-1] < 2.0, f"a chunk counted {seconds[-1]} s after it finished: {lag}"


def test_a_stream_refused_after_the_session_ended_sends_the_page_to_sign_in(
        console: Console, tokens: dict[str, str]) -> None:
    """A laptop asleep past its session: on waking, the page's stream reconnects, is
    answered 401, and the browser gives up on it for good. The page sat on its last badges
    as if they were live (state "retrying", no update ever again). It now asks the server
    why, goes to the sign-in page, and comes back to itself after. The stream's connection
    is held in the browser while the session ends, then let through to the real server."""
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope

    seed_equipment(entries_per_type=5, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    held: dict[str, Any] = {}

    def hold_first(route: Any) -> None:
        if "stream" in held:
            route.continue_()
        else:
            held["stream"] = route

    page.route("**/console/events**", hold_first)
    page.goto(f"{c.base}/console/data/{YEAR}")
    deadline = time.monotonic() + 10
    while "stream" not in held:
        assert time.monotonic() < deadline
        page.wait_for_timeout(50)
    with session_scope() as s:  # the session ended while the connection was down
        s.execute(text("DELETE FROM console_sessions"))
    held["stream"].continue_()
    expect(page).to_have_url(re.compile(rf"/login\?next=%2Fconsole%2Fdata%2F{YEAR}$"))
    # Signing in again lands back on the page, its stream live.
    page.get_by_label("API token").fill(tokens["operator"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/console/data/{YEAR}")
    page.wait_for_selector("body[data-stream-state=open]")


def test_a_stream_refused_for_another_reason_says_the_page_stopped_updating(
        console: Console, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The server refuses a page's stream (here the session's one stream is already open
    in another tab: 429). The browser gives up on it for good, so the page says that it no
    longer updates instead of showing its badges as if they were live."""
    monkeypatch.setattr(get_settings(), "sse_max_streams", 1)
    seed_equipment(entries_per_type=5, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])  # this tab holds the session's one stream
    other = page.context.new_page()
    other.goto(f"{c.base}/console/data/{YEAR}")
    expect(other.get_by_role("alert")).to_contain_text("Live updates have stopped")
    expect(other.locator("body")).to_have_attribute("data-stream-state", "closed")
    expect(page.locator("body")).to_have_attribute("data-stream-state", "open")
    assert page.get_by_role("alert").count() == 0
    other.close()


def test_a_stream_that_cannot_reconnect_says_the_page_is_paused_until_it_is_back(
        console: Console, tokens: dict[str, str]) -> None:
    """The server or the network is down: the browser keeps reconnecting the page's
    stream and nothing on the page changes meanwhile. Past a few seconds the page says its
    live updates are paused; the note goes when the stream is back. (The browser's own
    network fails the stream's requests here; the server is the real one.)"""
    seed_equipment(entries_per_type=5, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    page.route("**/console/events**", lambda route: route.abort())
    page.goto(f"{c.base}/console/data/{YEAR}")
    expect(page.locator("body")).to_have_attribute("data-stream-state", "retrying")
    paused = page.locator("#stream-paused")
    expect(paused).to_have_count(0)  # not at once: a quick reconnection shows nothing
    expect(paused).to_contain_text("Live updates paused", timeout=15_000)
    assert paused.get_attribute("role") == "status"
    page.unroute("**/console/events**")
    expect(page.locator("body")).to_have_attribute("data-stream-state", "open", timeout=15_000)
    expect(paused).to_have_count(0)
