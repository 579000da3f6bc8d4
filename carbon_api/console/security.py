"""Security headers on every response (API and console).

The console loads only its own scripts and styles (htmx and console.js are vendored, the CSS
is a file), so the Content-Security-Policy can forbid inline script and style entirely; SVG
treemaps use presentation attributes, not style attributes. ``frame-ancestors 'none'`` stops
click-jacking; no Referer leaves the site (``same-origin``: the site's own requests keep
theirs, and with it a same-origin form POST keeps its real ``Origin``, which ``no-referrer``
would turn into ``null``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carbon_api.console.web import PREFIX, message

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "object-src 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
]
# FastAPI's /docs page loads Swagger UI from a CDN with inline script: it keeps its own
# policy-free page in development (it is not served in production).
_DOCS = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware), so streaming responses such as SSE are untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path", "").startswith(_DOCS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in present
                         and not (docs and k == b"content-security-policy")]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Console routes (cookie sessions) as opposed to /v1 (bearer tokens) and static files.
CONSOLE_PREFIXES = (PREFIX, "/login", "/logout")
STATIC = PREFIX + "/static"


def is_console_path(path: str) -> bool:
    return path == "/" or path.startswith(CONSOLE_PREFIXES)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return str(v.decode("latin-1").strip())
    return None


def foreign_origin(scope: Scope) -> str | None:
    """Where a request sent from another site came from, or None when it is this site's own
    (or carries no sign of where it came from: curl, the tests' HTTP clients). Browsers send
    ``Sec-Fetch-Site`` and ``Origin`` on every POST, so a cross-site one is a form another site
    submitted: SameSite=Strict already withholds the session cookie, this refuses the request
    itself with a clear message. ``Origin: null`` (a sandboxed frame, a page with a
    no-referrer policy) is foreign unless the browser vouches it is same-origin."""
    fetch_site = _header(scope, b"sec-fetch-site")
    origin = _header(scope, b"origin")
    if fetch_site in ("cross-site", "same-site"):
        return (origin or f"a {fetch_site} page")[:100]
    if origin is None:
        return None
    if origin == "null":
        return None if fetch_site == "same-origin" else "null"
    host = (_header(scope, b"host") or "").lower()
    if origin.lower() in (f"http://{host}", f"https://{host}"):
        return None
    return origin[:100]


class ConsoleGuardMiddleware:
    """Console responses are ``Cache-Control: no-store`` (Back after sign-out must show the
    sign-in page, never a page of data from the browser cache), and a console POST from a
    foreign ``Origin`` is refused with 403 before any route reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path or not is_console_path(path) or path.startswith(STATIC):
            await self.app(scope, receive, send)
            return
        if scope.get("method") == "POST" and (origin := foreign_origin(scope)) is not None:
            await _refuse_origin(scope, receive, send, origin)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"cache-control"]
                message["headers"] = [*headers, (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, send_no_store)


async def _refuse_origin(scope: Scope, receive: Receive, send: Send, origin: str) -> None:
    request = Request(scope, receive)
    response = message(request, f"Refused: this form was sent from another site ({origin}), "
                                "not from this console. Open the console's own page and "
                                "try again.", 403)
    response.headers["cache-control"] = "no-store"
    await response(scope, receive, send)
