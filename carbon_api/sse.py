"""Server-sent event streams of a job or a pipeline.

Each poll opens a fresh session, reads a snapshot in a worker thread (so the event loop never
waits on the database) and closes it: no connection is held between polls and nothing is
served from a stale identity map. A snapshot is sent when it differs from the previous one;
after the terminal one the stream sends ``event: end`` and closes. sse-starlette sends a
``: ping`` comment every ``CARBON_SSE_PING_SECONDS`` so proxies keep the connection open, and
a client disconnect ends the loop at the next poll at the latest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy.exc import DBAPIError
from sse_starlette import EventSourceResponse, ServerSentEvent

from carbon_domain.db.session import session_scope
from carbon_domain.settings import get_settings

log = logging.getLogger("carbon.api.sse")

Snapshot = Callable[[], dict[str, Any] | None]


def read_snapshot(fn: Callable[..., dict[str, Any] | None], *args: Any) -> Snapshot:
    """A snapshot reader: one short-lived session per call."""
    def read() -> dict[str, Any] | None:
        with session_scope() as s:
            return fn(s, *args)
    return read


async def _events(request: Request, snapshot: Snapshot, event: str,
                  is_terminal: Callable[[dict[str, Any]], bool],
                  first: dict[str, Any]) -> AsyncIterator[ServerSentEvent]:
    settings = get_settings()
    last: str | None = None
    current: dict[str, Any] | None = first
    seq = 0
    while True:
        if current is None:
            yield ServerSentEvent(data=json.dumps({"detail": "no longer exists"}), event="end")
            return
        body = json.dumps(jsonable_encoder(current), sort_keys=True)
        if body != last:
            seq += 1
            last = body
            yield ServerSentEvent(data=body, event=event, id=str(seq))
        if is_terminal(current):
            yield ServerSentEvent(data=json.dumps({"stream_closed": True}), event="end")
            return
        await anyio.sleep(settings.sse_poll_seconds)
        if await request.is_disconnected():
            log.info("client went away", extra={"event": event})
            return
        try:
            current = await anyio.to_thread.run_sync(snapshot)
        except DBAPIError as exc:
            log.error("stream stopped: database error: %s", str(exc).splitlines()[0][:200])
            yield ServerSentEvent(
                data=json.dumps({"detail": "database unavailable; reconnect to resume"}),
                event="error")
            return


def stream(request: Request, snapshot: Snapshot, first: dict[str, Any], event: str,
           is_terminal: Callable[[dict[str, Any]], bool]) -> EventSourceResponse:
    return EventSourceResponse(
        _events(request, snapshot, event, is_terminal, first),
        ping=get_settings().sse_ping_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# OpenAPI description of a stream response.
def stream_doc(event: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {
        "description": (
            f"`text/event-stream`. `event: {event}` with the {what} snapshot (JSON, same shape "
            "as the non-stream route) whenever its state, result, message or progress changes; "
            "`: ping` comments as keep-alive; `event: end` after the terminal snapshot, then "
            "the stream closes."),
        "content": {"text/event-stream": {"schema": {"type": "string"}, "example": (
            f"id: 1\nevent: {event}\ndata: {{\"state\": \"RUNNING\", ...}}\n\n: ping\n\n"
            f"event: end\ndata: {{\"stream_closed\": true}}\n\n")}},
    }}
