"""Templates, the signed-in user dependency, CSRF and role checks shared by the console routes.

An unauthenticated request to a page is redirected to the sign-in page; an htmx fragment gets
401 with ``HX-Redirect`` so the whole page goes there. POSTs need the session's CSRF token
(``X-CSRF-Token`` header, sent by htmx from ``<body hx-headers>``, or a ``csrf_token`` form
field) and, for actions, the operator role: a viewer gets 403 even if the disabled button was
re-enabled by hand.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from carbon_api.console.adapters import label
from carbon_api.deps import YEAR_MAX, YEAR_MIN
from carbon_domain.csv_rows.template_columns import upload_columns
from carbon_domain.db.session import session_scope
from carbon_domain.services.access import console_sessions as sessions
from carbon_domain.services.access.console_sessions import COOKIE, ConsoleUser
from carbon_domain.services.reads.year_data import latest_year_with_data
from carbon_domain.settings import get_settings

HERE = Path(__file__).parent
#: Where the console's routes live: the one place its path is written. Everything else finds a
#: URL by route name (``url_path_for``; a unit test refuses a hard-coded one).
PREFIX = "/console"
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _tonnes(kg: Any) -> str:
    """kg → "1,234.57" t; anything else (missing stats) → "—"."""
    if isinstance(kg, bool) or not isinstance(kg, int | float):
        return "—"
    return f"{float(kg) / 1000:,.2f}"


def _when(at: datetime | str | None) -> str:
    """Times are stored in UTC and shown in UTC, saying so: operators in several time zones
    compare them with logs and each other."""
    if at is None:
        return "—"
    if isinstance(at, str):
        try:
            parsed = datetime.fromisoformat(at)
        except ValueError:
            return at[:40]
        at = parsed
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _plural(n: Any, one: str, many: str | None = None) -> str:
    """``1 entry``, ``2 entries``, ``1,234 entries``."""
    count = int(n or 0)
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{seconds:.1f} s"


templates.env.filters.update(tonnes=_tonnes, when=_when, duration=_duration, label=label,
                             plural=_plural)


def landing_year() -> int:
    """The year the console opens on: the most recent one with data (the demo's), else the
    current year."""
    with session_scope() as s:
        return latest_year_with_data(s) or date.today().year


_FLOWER_CHECK_SECONDS = 30.0
_flower_lock = threading.Lock()
_flower_seen: dict[tuple[str, int], tuple[float, bool]] = {}


def _reachable(host: str, port: int) -> bool:
    key = (host, port)
    now = time.monotonic()
    with _flower_lock:
        seen = _flower_seen.get(key)
        if seen is not None and now - seen[0] < _FLOWER_CHECK_SECONDS:
            return seen[1]
    try:
        with socket.create_connection(key, timeout=0.3):
            ok = True
    except OSError:
        ok = False
    with _flower_lock:
        _flower_seen[key] = (now, ok)
    return ok


def flower_link() -> str | None:
    """Flower's URL when it is configured (a password is set: ``carbon flower`` refuses to
    start without one) and answers on its port; None otherwise, so no dead link is shown.
    The probe is cached for 30 s."""
    st = get_settings()
    if st.flower_password is None or not st.flower_password.get_secret_value():
        return None
    if not _reachable(st.flower_address, st.flower_port):
        return None
    return f"http://{st.flower_address}:{st.flower_port}/"


templates.env.globals.update(landing_year=landing_year, upload_columns=upload_columns,
                             YEAR_MIN=YEAR_MIN, YEAR_MAX=YEAR_MAX)


class SignInRequired(Exception):
    pass


class Refused(Exception):
    """403 for an action this session may not take (viewer, missing or wrong CSRF token), or
    ``status_code`` for a form the console cannot read (413, 415, 400): an HTML message."""

    def __init__(self, detail: str, status_code: int = 403) -> None:
        super().__init__(detail)
        self.detail, self.status_code = detail, status_code


def user_from_request(request: Request) -> ConsoleUser | None:
    with session_scope() as s:
        return sessions.current_user(s, request.cookies.get(COOKIE))


def require_user(request: Request) -> ConsoleUser:
    user = user_from_request(request)
    if user is None:
        raise SignInRequired
    request.state.console_user = user
    return user


User = Annotated[ConsoleUser, Depends(require_user)]
#: A page of a console listing (pipelines, factors).
PageQuery = Annotated[int, Query(ge=1, le=100_000)]


def check_csrf(request: Request, user: ConsoleUser, form_value: str | None = None) -> None:
    submitted = request.headers.get("x-csrf-token") or form_value
    if not sessions.csrf_ok(user, submitted):
        raise Refused("The form has expired or did not come from this console (CSRF check "
                      "failed); reload the page and try again.")


def check_operator(user: ConsoleUser) -> None:
    if not user.can_act:
        raise Refused(f"Signed in as {user.name} with role {user.role.value}: this action "
                      "needs role operator.")


def render(request: Request, name: str, status_code: int = 200, **context: Any
           ) -> HTMLResponse:
    user = getattr(request.state, "console_user", None)
    return templates.TemplateResponse(request, name, {"user": user, "stream_url": None,
                                                      "year": None,
                                                      "now_year": date.today().year, **context},
                                      status_code=status_code)


def message(request: Request, text: str, status_code: int, kind: str = "error"
            ) -> HTMLResponse:
    return render(request, "_message.html", status_code=status_code, text=text, kind=kind)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def sign_in_required(request: Request, exc: Exception) -> Response:
    login = request.app.url_path_for("login_form")
    stream = request.url.path == request.app.url_path_for("events")
    back = _return_to(request) if is_htmx(request) or stream else _own_url(request)
    target = login
    if back and urlsplit(back).path not in (request.app.url_path_for("front_door"), login):
        target += "?next=" + quote(back, safe="")
    if is_htmx(request) or stream:
        return Response("Sign in again.", status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _own_url(request: Request) -> str | None:
    """A page asked for by a plain GET: come back to it after signing in."""
    if request.method != "GET":
        return None
    return request.url.path + ("?" + request.url.query if request.url.query else "")


def _return_to(request: Request) -> str | None:
    """A fragment, a form sent by htmx or the page's event stream: come back to the page it
    was on (htmx's ``HX-Current-URL``, the console's stream probe sends it too), not to the
    fragment or the stream itself, whose URL opened as a page is a bare fragment or an
    endless event stream. Only its path and query are kept: the sign-in page accepts paths
    of this site alone."""
    current = request.headers.get("hx-current-url")
    if not current:  # an older htmx request: its own URL; the bare stream: none
        return _own_url(request) if is_htmx(request) else None
    parts = urlsplit(current)
    return (parts.path or "/") + ("?" + parts.query if parts.query else "")


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return message(request, exc.detail, exc.status_code)


def database_down(request: Request) -> HTMLResponse:
    """What a console page answers while the database is unreachable: a 503 page in the
    console's layout saying what it means and what to do; a fragment htmx asked for, a short
    message in its place. Before, the console showed the API's JSON body
    (``{"detail": "The database is unreachable or busy; …"}``) as the page.

    Rendered without the signed-in user (the sign-in cannot be read, and the header's links
    would need the database)."""
    name = "_database_down.html" if is_htmx(request) else "database_down.html"
    response = render(request, name, status_code=503, user=None)
    response.headers["retry-after"] = "5"
    return response
