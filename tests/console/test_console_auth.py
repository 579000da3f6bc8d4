"""Console sign-in, session cookie, CSRF, roles and security headers, against the real app on
a live server with PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from carbon_domain.db.base import utcnow
from carbon_domain.db.models import ConsoleSession, Pipeline
from carbon_domain.db.session import session_scope
from carbon_domain.services.access.console_sessions import COOKIE
from carbon_domain.services.access.tokens import revoke_token
from carbon_domain.settings import get_settings

from .support import YEAR, sign_in

pytestmark = pytest.mark.integration
PAGES = ["/console/data/2025", "/console/pipelines", "/console/reports?year=2025",
         "/console/data/2025/modules/4", "/console/data/2025/modules/4/recalculate",
         "/console/workers"]


def test_front_door_and_unauthenticated_redirects(http: httpx.Client) -> None:
    r = http.get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    for page in PAGES:
        r = http.get(page, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), page
    # An htmx fragment request gets 401 + HX-Redirect so the whole page goes to sign-in.
    r = http.get("/console/data/2025/modules/4", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"].startswith("/login")
    r = http.post("/console/data/2025/modules/4/recalculate", data={"mode": "all"},
                  follow_redirects=False)
    assert r.status_code == 303
    # /v1 keeps its bearer tokens: a console cookie is no substitute.
    assert http.get("/v1/sync/recalculation-status", params={"year": YEAR}).status_code == 401


def test_session_cookie_attributes_and_front_door(http: httpx.Client,
                                                  tokens: dict[str, str]) -> None:
    r = http.get("/login")
    nonce = re.search(r'name="login_csrf" value="([^"]+)"', r.text).group(1)
    r = http.post("/login", data={"token": tokens["operator"], "login_csrf": nonce},
                  follow_redirects=False)
    assert r.status_code == 303
    cookie = next(v for k, v in r.headers.multi_items()
                  if k == "set-cookie" and v.startswith(COOKIE + "="))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "samesite", "max-age", "path"} <= attrs
    assert "samesite=strict" in cookie.lower() and "secure" not in attrs
    sid = cookie.split(";")[0].split("=", 1)[1]
    with session_scope() as s:  # only a digest is stored, never the cookie value
        stored = list(s.scalars(select(ConsoleSession.session_hash)))
    assert len(stored) == 1 and sid not in stored[0]
    r = http.get("/", follow_redirects=False)
    assert r.headers["location"].startswith("/console/data/")


def test_production_cookie_is_secure(http: httpx.Client, tokens: dict[str, str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "environment", "production")
    r = http.get("/login")
    assert "secure" in r.headers["set-cookie"].lower()  # the login CSRF cookie too
    nonce = re.search(r'name="login_csrf" value="([^"]+)"', r.text).group(1)
    # httpx keeps Secure cookies off plain http: send the double-submit value by hand.
    http.cookies.clear()
    r = http.post("/login", data={"token": tokens["operator"], "login_csrf": nonce},
                  headers={"Cookie": f"carbon_login_csrf={nonce}"}, follow_redirects=False)
    cookie = next(v for k, v in r.headers.multi_items()
                  if k == "set-cookie" and v.startswith(COOKIE + "="))
    assert "secure" in {a.strip().lower() for a in cookie.split(";")}


def test_bad_token_and_login_csrf(http: httpx.Client, tokens: dict[str, str]) -> None:
    r = http.get("/login")
    nonce = re.search(r'name="login_csrf" value="([^"]+)"', r.text).group(1)
    r = http.post("/login", data={"token": "cbn_" + "x" * 43, "login_csrf": nonce})
    assert r.status_code == 401 and "not valid" in r.text
    # A login form posted without the double-submit cookie value is refused.
    r = http.post("/login", data={"token": tokens["operator"], "login_csrf": "forged"},
                  follow_redirects=False)
    assert r.status_code == 400 and COOKIE not in r.headers.get("set-cookie", "")


def test_logout_invalidates_the_cookie_server_side(http: httpx.Client,
                                                   tokens: dict[str, str]) -> None:
    csrf = sign_in(http, tokens["operator"])
    stolen = http.cookies[COOKIE]
    r = http.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(ConsoleSession)) == 0
    # Replaying the old cookie value does not work either.
    with httpx.Client(base_url=str(http.base_url), cookies={COOKIE: stolen}) as other:
        assert other.get("/console/pipelines", follow_redirects=False).status_code == 303


def test_revoked_token_ends_the_session(http: httpx.Client, tokens: dict[str, str]) -> None:
    sign_in(http, tokens["operator"])
    assert http.get("/console/pipelines").status_code == 200
    with session_scope() as s:
        revoke_token(s, "ops-alice")
    assert http.get("/console/pipelines", follow_redirects=False).status_code == 303


def test_expired_session_is_refused(http: httpx.Client, tokens: dict[str, str]) -> None:
    sign_in(http, tokens["viewer"])
    with session_scope() as s:
        s.execute(update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert http.get("/console/pipelines", follow_redirects=False).status_code == 303


def test_csrf_is_required_and_bound_to_the_session(http: httpx.Client,
                                                   tokens: dict[str, str]) -> None:
    csrf = sign_in(http, tokens["operator"])
    url = f"/console/data/{YEAR}/modules/4/recalculate"
    with session_scope() as s:
        before = s.scalar(select(func.count()).select_from(Pipeline))
    assert http.post(url, data={"mode": "all"}).status_code == 403
    assert http.post(url, data={"mode": "all", "csrf_token": "nope"}).status_code == 403
    # Another session's token is no good here.
    with httpx.Client(base_url=str(http.base_url)) as other:
        foreign = sign_in(other, tokens["viewer"])
    assert http.post(url, data={"mode": "all", "csrf_token": foreign}).status_code == 403
    assert http.post(url, data={"mode": "all"}, headers={"X-CSRF-Token": foreign}
                     ).status_code == 403
    assert http.post("/console/upload", headers={"X-CSRF-Token": "bad"}, data={
        "kind": "units", "year": "2025"}, files={"file": ("u.csv", b"x", "text/csv")}
                     ).status_code == 403
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Pipeline)) == before
    # The right token passes the check (here: an empty year, nothing to recalculate → 400).
    r = http.post(url, data={"mode": "stale"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and (
        f"Nothing to recalculate for {YEAR}: no factors and no entries for {YEAR}" in r.text)


def test_viewer_sees_everything_but_is_refused_actions(http: httpx.Client,
                                                       tokens: dict[str, str]) -> None:
    csrf = sign_in(http, tokens["viewer"])
    for page in PAGES:
        r = http.get(page)
        assert r.status_code == 200, page
    page = http.get(f"/console/data/{YEAR}").text
    assert "Viewers cannot recalculate" in page and "disabled" in page
    h = {"X-CSRF-Token": csrf}
    for url in (f"/console/data/{YEAR}/modules/4/recalculate",
                f"/console/data/{YEAR}/modules/4/types/11/recalculate",
                "/console/pipelines/00000000-0000-0000-0000-000000000000/abort",
                "/console/pipelines/00000000-0000-0000-0000-000000000000/recover"):
        r = http.post(url, data={"mode": "all"}, headers=h)
        assert r.status_code == 403 and "needs role operator" in r.text, url
    r = http.post("/console/upload", headers=h, data={"kind": "units", "year": "2025"},
                  files={"file": ("u.csv", b"a,b\n", "text/csv")})
    assert r.status_code == 403


def test_security_headers_on_console_and_api(http: httpx.Client) -> None:
    for path in ("/login", "/v1/health", "/console/static/console.js"):
        r = http.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert r.headers["referrer-policy"] == "same-origin"  # no Referer leaves the site
        assert r.headers["x-content-type-options"] == "nosniff"
    js = http.get("/console/static/vendor/htmx.min.js")
    assert js.status_code == 200 and "htmx" in js.text[:2000]


def test_every_console_route_needs_a_session(http: httpx.Client) -> None:
    """Generated from the app's routes: without a session every console route but the
    sign-in page and the front door sends the browser to sign in (never serves data)."""
    from carbon_api.app import app
    from carbon_api.console import is_console_path
    from tests.integration.test_security import _walk

    routes = [(m, p) for p, methods in _walk(app.routes) for m in methods
              if m != "HEAD" and is_console_path(p)]
    assert len(routes) >= 15
    open_ = {("GET", "/"), ("GET", "/login"), ("POST", "/login")}
    for method, path in routes:
        if (method, path) in open_:
            continue
        url = re.sub(r"\{year\}", "2025", path)
        url = re.sub(r"\{module\}", "4", url)
        url = re.sub(r"\{det\}", "11", url)
        url = re.sub(r"\{pipeline_id\}", "00000000-0000-0000-0000-000000000000", url)
        r = http.request(method, url, follow_redirects=False)
        assert r.status_code in (303, 401), (method, url, r.status_code)
        target = r.headers.get("location") or r.headers.get("hx-redirect") or ""
        assert target.startswith("/login"), (method, url)


def test_signing_in_again_comes_back_to_the_page_not_to_its_fragment(
        http: httpx.Client) -> None:
    """A fragment, an htmx form or the page's stream asked for without a session: the 401
    sends the page to sign in and back to the page it was on (HX-Current-URL), never to the
    fragment or the event stream, which opened as a page are a bare fragment or an endless
    stream. Without HX-Current-URL a fragment keeps its own URL, a stream none."""
    page = f"http://testserver/console/data/{YEAR}?open=4"
    for method, url in (("GET", f"/console/data/{YEAR}/modules/4"),
                        ("GET", f"/console/events?year={YEAR}"),
                        ("POST", f"/console/data/{YEAR}/modules/4/recalculate")):
        r = http.request(method, url, headers={"HX-Request": "true", "HX-Current-URL": page},
                         follow_redirects=False)
        assert r.status_code == 401, (method, url)
        assert r.headers["hx-redirect"] == (
            f"/login?next=%2Fconsole%2Fdata%2F{YEAR}%3Fopen%3D4"), (method, url)
    r = http.get(f"/console/data/{YEAR}/modules/4", headers={"HX-Request": "true"})
    assert r.headers["hx-redirect"] == f"/login?next=%2Fconsole%2Fdata%2F{YEAR}%2Fmodules%2F4"
    r = http.get(f"/console/events?year={YEAR}", follow_redirects=False)
    assert (r.status_code, r.headers["hx-redirect"]) == (401, "/login")
