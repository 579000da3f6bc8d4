"""Server-sent event streams of a job or a pipeline.

Each poll opens a fresh session, reads a snapshot in a worker thread (so the event loop never
waits on the database) and closes it: no connection is held between polls and nothing is
served from a stale identity map. A snapshot is sent when it differs from the previous one;
after the terminal one the stream sends ``event: end`` and closes. sse-starlette sends a
``: ping`` comment every ``CARBON_SSE_PING_SECONDS`` so proxies keep the connection open, and
a client disconnect ends the loop at the next poll at the latest.

Each token may hold at most ``CARBON_SSE_MAX_STREAMS`` live streams (per API process; 429
past it), and a stream re-verifies its token every ``RECHECK_POLLS`` polls: a revoked token
ends it with ``event: end``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy.exc import DBAPIError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import hash_token, verify_token
from carbon_domain.settings import get_settings

log = logging.getLogger("carbon.api.sse")
#: A stream re-verifies its bearer token every this many polls (~3 s at the default poll).
RECHECK_POLLS = 3


class Slot:
    """One open stream of a holder; ``release`` is idempotent (the stream's end and the
    response's background task both call it)."""

    def __init__(self, slots: StreamSlots, holder: str) -> None:
        self._slots, self._holder, self._open = slots, holder, True

    def release(self) -> None:
        if self._open:
            self._open = False
            self._slots.release(self._holder)


class StreamSlots:
    """Live streams per holder (an API token's hash, a console session), in this process."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, holder: str) -> Slot:
        """A slot, or HTTP 429 when the holder already has the maximum open."""
        cap = get_settings().sse_max_streams
        with self._lock:
            n = self._open.get(holder, 0)
            if n >= cap:
                raise HTTPException(429, f"Too many live streams open ({n}; at most {cap} per"
                                         " token or session): close one first",
                                    headers={"Retry-After": "5"})
            self._open[holder] = n + 1
        return Slot(self, holder)

    def release(self, holder: str) -> None:
        with self._lock:
            n = self._open.get(holder, 0) - 1
            if n > 0:
                self._open[holder] = n
            else:
                self._open.pop(holder, None)

    def count(self, holder: str) -> int:
        return self._open.get(holder, 0)


SLOTS = StreamSlots()


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _token_valid(token: str) -> bool:
    with session_scope() as s:
        return verify_token(s, token) is not None

Snapshot = Callable[[], dict[str, Any] | None]


def read_snapshot(fn: Callable[..., dict[str, Any] | None], *args: Any) -> Snapshot:
    """A snapshot reader: one short-lived session per call."""
    def read() -> dict[str, Any] | None:
        with session_scope() as s:
            return fn(s, *args)
    return read


async def _events(request: Request, snapshot: Snapshot, event: str,
                  is_terminal: Callable[[dict[str, Any]], bool],
                  first: dict[str, Any], token: str | None, slot: Slot | None
                  ) -> AsyncIterator[ServerSentEvent]:
    try:
        async for e in _polls(request, snapshot, event, is_terminal, first, token):
            yield e
    finally:
        if slot is not None:
            slot.release()


async def _polls(request: Request, snapshot: Snapshot, event: str,
                 is_terminal: Callable[[dict[str, Any]], bool],
                 first: dict[str, Any], token: str | None) -> AsyncIterator[ServerSentEvent]:
    settings = get_settings()
    last: str | None = None
    current: dict[str, Any] | None = first
    seq = 0
    polls = 0
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
        polls += 1
        try:
            if token is not None and polls % RECHECK_POLLS == 0 and not (
                    await anyio.to_thread.run_sync(_token_valid, token)):
                log.info("stream ended: token revoked", extra={"event": event})
                yield ServerSentEvent(data=json.dumps({"detail": "token revoked"}),
                                      event="end")
                return
            current = await anyio.to_thread.run_sync(snapshot)
        except DBAPIError as exc:
            log.error("stream stopped: database error: %s", str(exc).splitlines()[0][:200])
            yield ServerSentEvent(
                data=json.dumps({"detail": "database unavailable; reconnect to resume"}),
                event="error")
            return


def stream(request: Request, snapshot: Snapshot, first: dict[str, Any], event: str,
           is_terminal: Callable[[dict[str, Any]], bool]) -> EventSourceResponse:
    """The stream of a ``/v1`` route (its token already verified); 429 when the token has
    the maximum of live streams open."""
    token = bearer_token(request)
    slot = SLOTS.acquire("token:" + hash_token(token)) if token else None
    return EventSourceResponse(
        _events(request, snapshot, event, is_terminal, first, token, slot),
        ping=get_settings().sse_ping_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(slot.release) if slot else None,
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
