"""Structured JSON logs with the request id (and job id) of the request being served.

Every request gets an id: the caller's ``X-Request-ID`` when it is a sane token, else a new
one; it is echoed in the response header and carried by every log line written while the
request is served. Routes record the job / pipeline they touched with :func:`bind`, and the
access line written when the response completes names them.

The per-request context is a mutable dict held in a ContextVar: sync routes run in a worker
thread that sees a *copy* of the context, so they must mutate the dict, not reset the var.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carbon_tasks.log_context import JsonFormatter, log_format
from carbon_tasks.log_context import fields as _context

__all__ = ["JsonFormatter", "RequestContextMiddleware", "bind", "configure_logging"]

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TEXT_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(name)s: %(message)s"

access_log = logging.getLogger("carbon.api.access")


def bind(**fields: Any) -> None:
    """Attach fields (job_id, pipeline_id, user, ...) to the current request's log lines."""
    ctx = _context.get()
    if ctx is not None:
        ctx.update({k: v for k, v in fields.items() if v is not None})


class _CarbonHandler(logging.StreamHandler[TextIO]):
    _carbon_handler = True  # the marker configure_logging looks for (survives a reload)


def _printing_root_handlers() -> list[logging.Handler]:
    """Handlers of the root logger that write lines out (a Celery worker running in this
    process installs one), leaving out pytest's capture handlers."""
    return [h for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler)
            and not type(h).__module__.startswith("_pytest")]


def configure_logging(level: str = "INFO", fmt: str | None = None) -> None:
    """Lines on stderr for the ``carbon`` loggers, JSON unless ``CARBON_LOG_FORMAT=text``
    (idempotent). One line per event: when something else already prints the root logger's
    records (an in-process Celery worker, e.g. ``carbon demo --serve``), its handlers get
    the format instead of a second handler being added."""
    fmt = fmt or log_format(default="json")
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    logger = logging.getLogger("carbon")
    mine = [h for h in logger.handlers if getattr(h, "_carbon_handler", False)]
    others = _printing_root_handlers()
    if others:
        for h in mine:
            logger.removeHandler(h)
        if fmt == "json":
            for h in others:
                h.setFormatter(formatter)
    elif mine:
        for h in mine:
            h.setFormatter(formatter)
    else:
        handler = _CarbonHandler(sys.stderr)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    try:
        logger.setLevel(level.upper())
    except ValueError:
        logger.setLevel(logging.INFO)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _REQUEST_ID_RE.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Pure ASGI (it must not buffer SSE streams): request id in and out, one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        ctx: dict[str, Any] = {"request_id": rid}
        token = _context.set(ctx)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %s", scope.get("method"), scope.get("path"), status,
                extra={"method": scope.get("method"), "path": scope.get("path"),
                       "status": status,
                       "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
            _context.reset(token)
