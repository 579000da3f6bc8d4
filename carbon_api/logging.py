"""Structured JSON logs with the request id (and job id) of the request being served.

Every request gets an id: the caller's ``X-Request-ID`` when it is a sane token, else a new
one; it is echoed in the response header and carried by every log line written while the
request is served. Routes record the job / pipeline they touched with :func:`bind`, and the
access line written when the response completes names them.

The per-request context is a mutable dict held in a ContextVar: sync routes run in a worker
thread that sees a *copy* of the context, so they must mutate the dict, not reset the var.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_context: ContextVar[dict[str, Any] | None] = ContextVar("carbon_request_context", default=None)

access_log = logging.getLogger("carbon.api.access")


def bind(**fields: Any) -> None:
    """Attach fields (job_id, pipeline_id, user, ...) to the current request's log lines."""
    ctx = _context.get()
    if ctx is not None:
        ctx.update({k: v for k, v in fields.items() if v is not None})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the request context, extras."""

    _STD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message", "asctime", "taskName"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = _context.get()
        if ctx:
            out.update(ctx)
        for key, value in vars(record).items():
            if key not in self._STD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class _JsonStreamHandler(logging.StreamHandler[TextIO]):
    _carbon_json = True  # the marker configure_logging looks for (survives a module reload)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the ``carbon`` loggers (idempotent). Propagation is left
    alone: under uvicorn the root logger has no handler, and under pytest caplog still
    sees the records."""
    logger = logging.getLogger("carbon")
    if not any(getattr(h, "_carbon_json", False) for h in logger.handlers):
        handler = _JsonStreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
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
