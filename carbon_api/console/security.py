"""Security headers on every response (API and console).

The console loads only its own scripts and styles (htmx and console.js are vendored, the CSS
is a file), so the Content-Security-Policy can forbid inline script and style entirely; SVG
treemaps use presentation attributes, not style attributes. ``frame-ancestors 'none'`` stops
click-jacking; no Referer leaves the site.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "object-src 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
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
