"""What the console guarantees around its pages, over HTTP: no page is cached, a form from
another site is refused, a fragment opened as a page goes to its page, the Flower link only
when Flower is there, the landing year, and an empty year refusing recalculation (console and
API alike)."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from carbon_domain.db.models import Pipeline
from carbon_domain.db.session import session_scope
from carbon_domain.settings import get_settings

from .support import IT, YEAR, seed_equipment, sign_in

pytestmark = pytest.mark.integration
EMPTY = YEAR + 1
NAVIGATE = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}


def _pipelines() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Pipeline)) or 0)


def test_console_pages_and_fragments_are_no_store(http: httpx.Client,
                                                  tokens: dict[str, str]) -> None:
    assert http.get("/login").headers["cache-control"] == "no-store"
    sign_in(http, tokens["operator"])
    for path in (f"/console/data/{YEAR}", "/console/pipelines", f"/console/reports?year={YEAR}",
                 f"/console/data/{YEAR}/modules/4",
                 "/console/templates/factors.csv?module=4&det=11"):
        r = http.get(path, headers={"HX-Request": "true"})
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store", path
    # Static files may be cached; /v1 is not the console's to decide here.
    assert "no-store" not in http.get("/console/static/console.css").headers.get(
        "cache-control", "")


def test_a_post_from_another_site_is_refused(http: httpx.Client,
                                             tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=5)
    csrf = sign_in(http, tokens["operator"])
    before = _pipelines()
    url = f"/console/data/{YEAR}/modules/4/types/11/recalculate"
    for sent in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                 {"Origin": "http://127.0.0.1:1"},
                 {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
                 {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        r = http.post(url, headers={"X-CSRF-Token": csrf, **sent})
        assert r.status_code == 403, sent
        assert "sent from another site" in r.text and "not from this console" in r.text
        # Refused inside the app's own layers: logged with a request id, security headers on.
        assert r.headers["x-request-id"] and "frame-ancestors 'none'" in r.headers[
            "content-security-policy"]
    r = http.post("/logout", data={"csrf_token": csrf}, headers={"Origin": "https://evil.example"},
                  follow_redirects=False)
    assert r.status_code == 403
    assert _pipelines() == before
    # The console's own origin (what a browser sends) passes, and so does "null" when the
    # browser says the request is same-origin.
    own = str(http.base_url).rstrip("/")
    r = http.post(url, headers={"X-CSRF-Token": csrf, "Origin": own,
                                "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200 and "queued" in r.text
    assert _pipelines() == before + 1
    r = http.post(url, headers={"X-CSRF-Token": csrf, "Origin": "null",
                                "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200


def test_a_fragment_opened_as_a_page_goes_to_its_page(http: httpx.Client,
                                                      tokens: dict[str, str]) -> None:
    sign_in(http, tokens["operator"])
    pid = str(uuid.uuid4())
    for path, page in ((f"/console/data/{YEAR}/modules/4", f"/console/data/{YEAR}#module-4"),
                       (f"/console/data/{YEAR}/modules/4/recalculate",
                        f"/console/data/{YEAR}#module-4"),
                       (f"/console/pipelines/{pid}", f"/console/pipelines?focus={pid}"),
                       ("/console/workers", "/console/pipelines")):
        r = http.get(path, headers=NAVIGATE, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == page, path
        # Without fetch metadata, a request asking for HTML is a navigation too.
        r = http.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303, path
        # htmx gets the fragment itself.
        r = http.get(path, headers={**NAVIGATE, "HX-Request": "true"}, follow_redirects=False)
        assert r.status_code in (200, 404) and "<html" not in r.text, path
    # Pages are not fragments.
    assert http.get(f"/console/data/{YEAR}", headers=NAVIGATE,
                    follow_redirects=False).status_code == 200


UNREACHABLE = "postgresql+psycopg2://postgres@127.0.0.1:1/unreachable"


def _main_text(html: str) -> str:
    """What a page's ``<main>`` says, tags dropped."""
    return " ".join(re.sub(r"<[^>]+>", " ", html.split('<main id="main">', 1)[1]).split())


def test_a_database_outage_is_a_console_page_not_the_apis_json(
        http: httpx.Client, server: str, tokens: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The database unreachable (the app pointed at a closed port, as the API's outage test
    does): every console page showed the API's JSON body, ``{"detail": "The database is
    unreachable or busy; try again in a moment."}``, and a fragment put it in its box. A page
    is now a page of the console saying what it means and what to do; a fragment a short
    message; /v1 keeps its JSON 503."""
    sign_in(http, tokens["operator"])
    with httpx.Client(base_url=server, timeout=30) as signed_out:
        nonce = re.search(r'name="login_csrf" value="([^"]+)"',  # type: ignore[union-attr]
                          signed_out.get("/login").text).group(1)
        monkeypatch.setattr(get_settings(), "database_url", UNREACHABLE)
        # Signing in needs the database too (the form itself does not).
        sign_in_post = signed_out.post("/login", data={"token": tokens["operator"],
                                                       "login_csrf": nonce})
    pages = [(path, http.get(path, headers=NAVIGATE, follow_redirects=False)) for path in
             (f"/console/data/{YEAR}", "/console/pipelines", f"/console/reports?year={YEAR}",
              "/")]
    for path, r in [*pages, ("POST /login", sign_in_post)]:
        assert r.status_code == 503, (path, r.text)
        assert r.headers["content-type"].startswith("text/html"), path
        assert r.headers["retry-after"] == "5" and r.headers["cache-control"] == "no-store"
        assert '"detail"' not in r.text, path
        # The console's layout: its title, style sheet and main; no signed-in header (it
        # would need the database).
        assert "<title>Database unreachable · carbon console</title>" in r.text, path
        assert 'href="/console/static/console.css"' in r.text and '<main id="main">' in r.text
        assert "Signed in as" not in r.text
        said = _main_text(r.text)
        assert said.startswith("The database is unreachable The console answered, but its "
                               "database (PostgreSQL) did not: this page cannot be shown, and "
                               "nothing can be uploaded or started until it answers again."), path
        assert ("What it means Nothing saved is lost. Uploads, jobs and results already "
                "recorded stay in the database") in said
        assert "The workers wait. A task that needs the database retries" in said
        assert ("What to do Check that PostgreSQL is running and that the API's host reaches "
                "it at its CARBON_DATABASE_URL : carbon db current") in said
        assert ("Then reload this page. Until then GET /v1/health answers 503 ( \"database\": "
                "\"unavailable\" ) and the metric carbon_database_up is 0.") in said
    # A fragment htmx asked for: a message in its place, not a page inside the page.
    for path in (f"/console/data/{YEAR}/modules/4", "/console/workers"):
        r = http.get(path, headers={"HX-Request": "true"})
        assert r.status_code == 503, path
        assert "<html" not in r.text and '"detail"' not in r.text, path
        assert r.text.strip() == (
            '<p class="message error" role="alert" data-database-down>The database is '
            "unreachable: this could not be shown or done. Nothing saved is lost and the "
            "workers wait for it; reload the page once PostgreSQL answers again.</p>")
    # The API keeps its JSON.
    r = http.get("/v1/sync/pipelines", headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert r.status_code == 503 and r.json() == {
        "detail": "The database is unreachable or busy; try again in a moment."}
    # Back: the pages are back.
    monkeypatch.undo()
    assert http.get(f"/console/data/{YEAR}").status_code == 200


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        yield int(srv.getsockname()[1])


def test_flower_link_only_when_configured_and_reachable(
        http: httpx.Client, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        listening_port: int) -> None:
    sign_in(http, tokens["viewer"])
    settings = get_settings()
    assert settings.flower_password is None  # the test harness leaves Flower unconfigured
    assert "Open Flower" not in http.get("/console/pipelines").text
    from pydantic import SecretStr
    monkeypatch.setattr(settings, "flower_password", SecretStr("s3cret-flower"))
    monkeypatch.setattr(settings, "flower_address", "127.0.0.1")
    with socket.socket() as probe:  # configured, but nothing listens there
        probe.bind(("127.0.0.1", 0))
        closed = int(probe.getsockname()[1])
    monkeypatch.setattr(settings, "flower_port", closed)
    assert "Open Flower" not in http.get("/console/pipelines").text
    monkeypatch.setattr(settings, "flower_port", listening_port)
    page = http.get("/console/pipelines").text
    assert re.search(rf'href="http://127.0.0.1:{listening_port}/"[^>]*>Open Flower', page)


def test_sign_in_and_reports_land_on_the_latest_year_with_data(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=5)
    r = http.get("/login")
    nonce = re.search(r'name="login_csrf" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    r = http.post("/login", data={"token": tokens["operator"], "login_csrf": nonce},
                  follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/data/{YEAR}"
    assert http.get("/", follow_redirects=False).headers["location"] == f"/console/data/{YEAR}"
    assert f"<h1>Report · {YEAR}</h1>" in http.get("/console/reports").text
    # The page of another (empty) year links back to it.
    page = http.get(f"/console/data/{EMPTY}").text
    assert f'id="latest-year">latest year with data: {YEAR}' in page


def test_an_empty_year_says_why_and_refuses_recalculation(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=5)
    csrf = sign_in(http, tokens["operator"])
    why = f"Nothing to recalculate for {EMPTY}: no factors and no entries for {EMPTY}"
    page = http.get(f"/console/data/{EMPTY}").text
    assert re.search(r'<p class="warnbox" id="year-empty" role="status">' + re.escape(why), page)
    module = http.get(f"/console/data/{EMPTY}/modules/4", headers={"HX-Request": "true"}).text
    assert re.search(rf'<span title="{re.escape(why)}" data-blocked><button type="submit" '
                     r'id="open-recalc-4" disabled', module)
    assert module.count(f'title="{why}" data-blocked') == 4  # the module's and its 3 types'
    # The year with data keeps its buttons.
    assert "data-blocked" not in http.get(f"/console/data/{YEAR}/modules/4",
                                          headers={"HX-Request": "true"}).text
    before = _pipelines()
    h = {"X-CSRF-Token": csrf}
    for url in (f"/console/data/{EMPTY}/modules/4/types/11/recalculate",
                f"/console/data/{EMPTY}/modules/4/recalculate"):
        r = http.post(url, headers=h, data={"mode": "all"})
        assert r.status_code == 400 and why in r.text, url
    bearer = {"Authorization": f"Bearer {tokens['operator']}"}
    for url in (f"/v1/sync/recalculate-emissions/4/11?year={EMPTY}",
                f"/v1/sync/recalculate-emissions/4?year={EMPTY}&only_stale=false"):
        r = http.post(url, headers=bearer)
        # The API's refusal also says what to upload first (the console's box says it too).
        assert r.status_code == 400 and r.json()["detail"] == (
            f"{why}; upload the units for {EMPTY} first (they make its reports), then "
            "factors, then data entries"), url
    assert _pipelines() == before


def test_labels_say_what_they_do_with_plurals_and_time_zones(http: httpx.Client,
                                                             tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=1, types=(IT,))
    sign_in(http, tokens["operator"])
    report = http.get(f"/console/reports?year={YEAR}&unit=LAB-A").text
    assert (f'href="/console/exports/results.csv?year={YEAR}&amp;unit=LAB-A">Download '
            f"results.csv ({YEAR}, LAB-A, all modules)</a>") in report
    assert (f'href="/console/exports/results.csv?year={YEAR}">Download results.csv ({YEAR}, '
            "all units, all modules)</a>") in report
    assert re.search(r"stats as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", report)
    assert 'id="unknown-unit"' not in report
    # A unit with no report that year is said so, not silently swapped for the first unit.
    other = http.get(f"/console/reports?year={YEAR}&unit=NOPE").text
    assert f"No unit NOPE has a report for {YEAR}: showing LAB-A instead." in other
    hx = {"HX-Request": "true"}
    module = http.get(f"/console/data/{YEAR}/modules/4", headers=hx).text
    assert f"Download results.csv ({YEAR}, all modules)</a>" in module
    assert f'id="export-{IT}">Download IT entries ({YEAR}, CSV)</a>' in module
    assert re.search(r"stats as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", module)
    dialog = http.get(f"/console/data/{YEAR}/modules/4/recalculate", headers=hx).text
    shown = re.sub(r"<[^>]+>", "", dialog)  # each type's scope is a span of its own
    assert "IT — 1 entry to recalculate" in shown and "1 entries" not in dialog
    assert "Scientific — 0 entries" in shown
    # Each data upload card offers its template, at the console's own route.
    page = http.get(f"/console/data/{YEAR}").text
    assert 'href="/console/templates/data-entries.csv?module=4&amp;det=11">template CSV' in page
    r = http.get("/console/templates/data-entries.csv?module=4&det=11")
    assert r.status_code == 200 and r.text.startswith("unit_institutional_id,equipment_class")
    assert "template_data_entries_equipment_it.csv" in r.headers["content-disposition"]
    assert http.get("/console/templates/factors.csv?module=4&det=20").status_code == 422
    assert http.get("/console/templates/nonsense.csv").status_code == 404
