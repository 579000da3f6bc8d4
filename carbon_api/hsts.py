"""``Strict-Transport-Security`` on every response in production (``CARBON_HSTS_SECONDS``).

Production runs behind TLS (a proxy in front of the API); once a browser has seen this header
it refuses plain HTTP to the host for that long, so a downgrade cannot steal the session
cookie. Development (plain http on localhost) does not send it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HstsMiddleware:
    """Pure ASGI, like the other header middleware: streaming responses are untouched."""

    def __init__(self, app: ASGIApp, max_age: int) -> None:
        self.app = app
        self.value = f"max-age={max_age}; includeSubDomains".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"strict-transport-security", self.value)]
            await send(message)

        await self.app(scope, receive, send_with_hsts)
