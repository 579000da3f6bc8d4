"""Browser tests: headless Chromium (Debian's package) driven by Playwright for Python against
the real app on uvicorn, with the suite's real Celery worker on PostgreSQL + Redis.

Playwright's own browser download cannot work here, so Chromium is launched from its path.
Without Chromium (or Playwright) the tests skip, unless CARBON_REQUIRE_SERVICES=1 (CI), where
they fail. Screenshots go to .carbon/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import create_token
from carbon_domain.settings import get_settings
from tests.console.support import YEAR, live_server
from tests.integration.api_support import wait_idle

REQUIRE = os.environ.get("CARBON_REQUIRE_SERVICES") == "1"
SHOTS = Path(__file__).resolve().parents[2] / ".carbon" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing(what: str) -> None:
    if REQUIRE:
        pytest.fail(f"{what} is required for the browser tests (CARBON_REQUIRE_SERVICES=1)")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _missing("chromium (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (pip install -e '.[dev]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def server(pg_database: str, worker: Any) -> Iterator[str]:
    with live_server() as url:
        yield url


@pytest.fixture(autouse=True)
def quick_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "sse_poll_seconds", 0.2)


@pytest.fixture
def tokens(db: str) -> Iterator[dict[str, str]]:
    with session_scope() as s:
        made = {"operator": create_token(s, "ops-alice", "operator"),
                "viewer": create_token(s, "dash-bob", "viewer")}
    yield made
    wait_idle()


class Console:
    """One signed-in browser tab."""

    def __init__(self, page: Any, base: str, name: str) -> None:
        self.page, self.base, self.name = page, base, name
        self.stream_requests: list[str] = []
        page.on("request", lambda r: self.stream_requests.append(r.url)
                if "/console/events" in r.url else None)
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        # A CSP violation (inline script/style, foreign origin) is a bug in the console.
        page.on("console", lambda m: self.errors.append(m.text)
                if "Content Security Policy" in m.text else None)

    def sign_in(self, token: str) -> None:
        self.page.goto(self.base + "/")
        self.page.get_by_label("API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url("**/console/data/*")
        # The landing page's own stream is open before the test moves on, so it is never
        # counted as the next page's (sign-in lands on the year with data, often the same URL).
        self.page.wait_for_selector("body[data-stream-state=open]")

    def data(self, year: int = YEAR) -> None:
        self.stream_requests.clear()  # count this page's streams only
        self.page.goto(f"{self.base}/console/data/{year}")
        self.page.wait_for_selector("body[data-stream-state=open]")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{self.name}-{name}.png"), full_page=True)


@pytest.fixture
def console(chromium: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Console]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    c = Console(page, server, request.node.name)
    yield c
    try:
        c.shot("end")
    finally:
        context.close()
    assert not c.errors, f"JavaScript errors on the page: {c.errors}"
