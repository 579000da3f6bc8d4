"""Fragment URLs opened as pages.

htmx fetches pieces of a page (a module's status box, the recalculation dialog, a pipeline's
details, the workers panel) with ``HX-Request: true``. The same URL opened in the browser's
address bar (a bookmark, "open link in new tab", a URL pasted from the network panel) would
show that piece alone, unstyled and without its page: a browser navigation to a fragment is
redirected to the page that holds it instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from carbon_api.console.web import PREFIX

# A fragment's path (as its route declares it) → the page that holds it, by route name.
_FRAGMENTS: list[tuple[re.Pattern[str], Callable[[Any, re.Match[str]], str]]] = [
    (re.compile(rf"^{PREFIX}/data/(\d{{4}})/modules/(\d{{1,2}})(?:/recalculate)?$"),
     lambda app, m: app.url_path_for("data_page", year=m[1]) + f"#module-{m[2]}"),
    (re.compile(rf"^{PREFIX}/pipelines/([0-9a-fA-F-]{{1,64}})$"),
     lambda app, m: app.url_path_for("pipelines_page") + f"?focus={quote(m[1])}"),
    (re.compile(rf"^{PREFIX}/workers$"), lambda app, m: app.url_path_for("pipelines_page")),
]


def page_of(app: Any, path: str) -> str | None:
    """The page that holds the fragment at ``path``, or None when ``path`` is not one."""
    for pattern, target in _FRAGMENTS:
        found = pattern.match(path)
        if found:
            return target(app, found)
    return None


def _navigation(headers: dict[bytes, bytes]) -> bool:
    """A top-level browser navigation, not htmx and not a script or API client (their
    requests carry no ``Sec-Fetch-Mode: navigate`` and do not ask for text/html)."""
    if headers.get(b"hx-request") == b"true":
        return False
    mode = headers.get(b"sec-fetch-mode")
    if mode is not None:
        return mode == b"navigate"
    return b"text/html" in headers.get(b"accept", b"")


class FragmentRedirectMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET":
            target = page_of(scope["app"], scope.get("path", ""))
            if target is not None and _navigation(dict(scope.get("headers", []))):
                await RedirectResponse(target, status_code=303)(scope, receive, send)
                return
        await self.app(scope, receive, send)
