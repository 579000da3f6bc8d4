"""Sign-in, sign-out and the front door (``/``).

The sign-in form is protected against login CSRF by a double-submit token: GET /login sets a
random value in a short-lived SameSite=Strict cookie and in the form; POST /login accepts only
when both match.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from carbon_api.console.forms import SessionForm
from carbon_api.console.web import landing_year, render, user_from_request
from carbon_domain.db.session import session_scope
from carbon_domain.services.access import console_sessions as sessions
from carbon_domain.services.access.console_sessions import COOKIE
from carbon_domain.settings import get_settings

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "carbon_login_csrf"


def _secure() -> bool:
    return get_settings().environment == "production"


def _safe_next(target: str | None) -> str | None:
    # Only paths of this site: no scheme, no host, no protocol-relative "//evil".
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target[:500]
    return None


def home_path(request: Request) -> str:
    return request.app.url_path_for("data_page", year=landing_year())


def _login_path(request: Request) -> str:
    return request.app.url_path_for("login_form")


@router.get("/")
def front_door(request: Request) -> Response:
    if user_from_request(request) is None:
        return RedirectResponse(_login_path(request), status_code=303)
    return RedirectResponse(home_path(request), status_code=303)


def _login_page(request: Request, error: str | None = None, status_code: int = 200,
                next_: str | None = None) -> Response:
    nonce = secrets.token_urlsafe(24)
    resp = render(request, "login.html", status_code=status_code, error=error,
                  login_csrf=nonce, next=_safe_next(next_) or "")
    resp.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="strict",
                    secure=_secure(), path=_login_path(request))
    return resp


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    if user_from_request(request) is not None:
        return RedirectResponse(_safe_next(next) or home_path(request), status_code=303)
    return _login_page(request, next_=next)


@router.post("/login")
def login(request: Request, token: str = Form("", max_length=200),
          login_csrf: str = Form("", max_length=100),
          next: str = Form("", max_length=500)) -> Response:
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    if not cookie or not login_csrf or not hmac.compare_digest(cookie.encode(),
                                                                login_csrf.encode()):
        return _login_page(request, "The sign-in form expired; please try again.", 400, next)
    with session_scope() as s:
        opened = sessions.sign_in(s, token)
    if opened is None:
        return _login_page(request, "That token is not valid (unknown, mistyped or revoked).",
                           401, next)
    sid, _ = opened
    resp = RedirectResponse(_safe_next(next) or home_path(request), status_code=303)
    resp.set_cookie(COOKIE, sid, max_age=int(sessions.LIFETIME.total_seconds()), httponly=True,
                    samesite="strict", secure=_secure(), path="/")
    resp.delete_cookie(LOGIN_COOKIE, path=_login_path(request), samesite="strict", httponly=True,
                       secure=_secure())
    return resp


@router.post("/logout")
def logout(request: Request, posted: SessionForm) -> Response:
    with session_scope() as s:
        sessions.sign_out(s, request.cookies.get(COOKIE))
    resp = RedirectResponse(_login_path(request), status_code=303)
    resp.delete_cookie(COOKIE, path="/", samesite="strict", httponly=True, secure=_secure())
    return resp
