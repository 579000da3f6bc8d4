"""The operator console: server-rendered pages (Jinja2) progressively enhanced with htmx,
served by the API's own FastAPI app. ``install(app)`` mounts it; see README "Operator console".
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.middleware import Middleware

from carbon_api.console import (
    data_pages,
    drill_pages,
    export_pages,
    factor_pages,
    ops_pages,
    preview_pages,
    report_pages,
    signin,
    stream,
    templates_csv,
)
from carbon_api.console.forms import PROBLEM
from carbon_api.console.fragments import FragmentRedirectMiddleware
from carbon_api.console.security import STATIC, ConsoleGuardMiddleware, is_console_path
from carbon_api.console.web import (
    HERE,
    Refused,
    SignInRequired,
    database_down,
    message,
    refused,
    sign_in_required,
)
from carbon_api.errors import database_error

__all__ = ["install", "is_console_path"]


async def _invalid(request: Request, exc: Exception) -> Response:
    """Console inputs out of range get a readable HTML 422 (a form's own ``problem`` as it is
    worded); /v1 keeps FastAPI's JSON."""
    assert isinstance(exc, RequestValidationError)
    if not is_console_path(request.url.path):
        return await request_validation_exception_handler(request, exc)
    errors = exc.errors()
    if errors and errors[0].get("type") == PROBLEM:
        return message(request, str(errors[0].get("msg")), 422)
    parts = []
    for err in errors[:5]:
        where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "input"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return message(request, "Invalid request — " + "; ".join(parts), 422)


async def _database_down(request: Request, exc: Exception) -> Response:
    """The database unreachable: a console page gets an HTML page saying so (htmx, a
    fragment); /v1 keeps its JSON 503. Any other database error stays a bug (re-raised)."""
    answer = await database_error(request, exc)
    return database_down(request) if is_console_path(request.url.path) else answer


def install(app: FastAPI) -> None:
    for module in (signin, data_pages, ops_pages, report_pages, stream, export_pages,
                   templates_csv, factor_pages, drill_pages, preview_pages):
        app.include_router(module.router)
    # Innermost (appended, not prepended as add_middleware does): their refusals and
    # redirects still pass through the request log and the security headers.
    app.user_middleware.append(Middleware(ConsoleGuardMiddleware))
    app.user_middleware.append(Middleware(FragmentRedirectMiddleware))
    app.mount(STATIC, StaticFiles(directory=str(HERE / "static")),
              name="console-static")
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(DBAPIError, _database_down)
