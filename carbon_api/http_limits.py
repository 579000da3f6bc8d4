"""Two guards on every HTTP request, as pure ASGI middleware (SSE streams pass untouched).

``BodyLimitMiddleware``: every route but the uploads takes a form of a few fields or no body
at all, yet Starlette parses a whole form before any check runs: an unauthenticated
``POST /login`` of 200 MiB was spooled to disk, 300 fields of 1 MiB took the API from 131 to
405 MB. Bodies of those routes are capped at ``CARBON_MAX_FORM_BYTES`` (413) — declared
(Content-Length) or counted (chunked) — before the route reads them. Upload routes keep their
own limit (``CARBON_MAX_UPLOAD_BYTES``, ``deps.bounded_form``).

``NoStoreMiddleware``: authenticated answers (``/v1`` but its health check, the console)
and downloads are ``Cache-Control: no-store``, so no browser or proxy cache keeps results
or data after sign-out. A route that set its own Cache-Control keeps it.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carbon_domain.settings import get_settings

#: Routes whose body is an uploaded file (their own, larger limit applies).
UPLOAD_PATHS = re.compile(
    r"^/(v1/sync/(units|reference/[^/]+|factors/[^/]+|data-entries/[^/]+)"
    r"|console/(upload|previews))/?$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in _BODY_METHODS
                or UPLOAD_PATHS.match(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_form_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        # Read the (small) body up front, counting: a chunked body has no Content-Length.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([], message), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], last: Message | None, receive: Receive | None = None
            ) -> Receive:
    """A receive that hands the buffered body over in one message, then ``last`` (or the
    real receive: a disconnect is still seen by streaming routes)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if last is not None:
                return last
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        if receive is not None:
            return await receive()
        return last or {"type": "http.disconnect"}

    return replay


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"Request body too large: this route takes at most {limit}"
                                 " bytes"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _private(path: str) -> bool:
    if path.startswith("/v1/"):
        return not path.startswith("/v1/health") or path.startswith("/v1/health/stale")
    return path.startswith("/console") and not path.startswith("/console/static")


class NoStoreMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = _private(scope.get("path", ""))

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"cache-control" not in names and (
                        private or b"content-disposition" in names):
                    headers.append((b"cache-control", b"no-store"))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_no_store)
