"""Templates, the signed-in user dependency, CSRF and role checks shared by the console routes.

An unauthenticated request to a page is redirected to the sign-in page; an htmx fragment gets
401 with ``HX-Redirect`` so the whole page goes there. POSTs need the session's CSRF token
(``X-CSRF-Token`` header, sent by htmx from ``<body hx-headers>``, or a ``csrf_token`` form
field) and, for actions, the operator role: a viewer gets 403 even if the disabled button was
re-enabled by hand.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from carbon_api.console import sessions
from carbon_api.console.adapters import label
from carbon_api.console.sessions import COOKIE, ConsoleUser
from carbon_domain.db.session import session_scope

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _tonnes(kg: Any) -> str:
    """kg → "1,234.57" t; anything else (missing stats) → "—"."""
    if isinstance(kg, bool) or not isinstance(kg, int | float):
        return "—"
    return f"{float(kg) / 1000:,.2f}"


def _when(at: datetime | str | None) -> str:
    if at is None:
        return "—"
    if isinstance(at, str):
        return at[:16].replace("T", " ")
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{seconds:.1f} s"


templates.env.filters.update(tonnes=_tonnes, when=_when, duration=_duration, label=label)


class SignInRequired(Exception):
    pass


class Refused(Exception):
    """403 for an action this session may not take (viewer, missing or wrong CSRF token)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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
    target = "/login"
    if request.method == "GET" and request.url.path not in ("/", "/login"):
        target += "?next=" + quote(request.url.path + (
            "?" + request.url.query if request.url.query else ""), safe="")
    if is_htmx(request) or request.url.path.startswith("/console/events"):
        return Response("Sign in again.", status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return message(request, exc.detail, 403)
