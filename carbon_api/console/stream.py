"""One Server-Sent Events connection per console page, multiplexed over every pipeline the
page shows.

A page subscribes with its scope — ``year`` (the pipelines of that year plus the reference
uploads, which have no year) or nothing (every pipeline, for the pipelines page) — and any
explicit pipeline ids (``p``). Every poll reads, in a worker thread, the pipelines of the scope
that are RUNNING or finished since the previous poll, and sends ``event: pipeline`` with the
server-rendered progress card for each one whose card changed. So a pipeline started after the
page loaded (by this tab, another tab or the CLI) appears without a new connection, and several
concurrent recalculations all update.

Resuming: each event's id is the poll's server time. After a reconnect the browser sends it
back as ``Last-Event-ID`` and the stream starts from there, so a pipeline that finished while
the connection was down still delivers its terminal card. The session is re-checked on every
poll: signing out or revoking the token ends the stream with ``event: signed-out``.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from sqlalchemy import or_, select
from sqlalchemy.exc import DBAPIError
from sse_starlette import EventSourceResponse, ServerSentEvent

from carbon_api.console import pipelines, sessions
from carbon_api.console.sessions import COOKIE
from carbon_api.console.web import User, templates
from carbon_api.deps import YEAR_MAX, YEAR_MIN
from carbon_domain.db.enums import PipelineStatus
from carbon_domain.db.models import Pipeline
from carbon_domain.db.session import session_scope
from carbon_domain.settings import get_settings

router = APIRouter(prefix="/console", include_in_schema=False)
# Poll boundaries overlap by this much so a pipeline finishing during a poll is never missed
# (duplicates are suppressed by comparing the rendered card).
SLACK_SECONDS = 2.0
MAX_PIPELINES = 50


def _since(last_event_id: str | None) -> float:
    try:
        value = float(last_event_id or "")
    except ValueError:
        return time.time() - SLACK_SECONDS
    if value != value or value <= 0:  # NaN or nonsense
        return time.time() - SLACK_SECONDS
    return min(value, time.time()) - SLACK_SECONDS


def _ids(values: list[str]) -> list[uuid.UUID]:
    out = []
    for v in values[:MAX_PIPELINES]:
        try:
            out.append(uuid.UUID(v))
        except ValueError:
            continue
    return out


def poll(session_id: str | None, year: int | None, ids: list[uuid.UUID], since: float
         ) -> list[dict[str, Any]] | None:
    """The scope's pipelines running or finished since ``since``; None when signed out."""
    with session_scope() as s:
        if sessions.current_user(s, session_id) is None:
            return None
        since_dt = datetime.fromtimestamp(since, tz=UTC)
        live = or_(Pipeline.status == PipelineStatus.RUNNING, Pipeline.finished_at >= since_dt)
        scope = [live]
        if year is not None:
            scope.append(or_(Pipeline.year == year, Pipeline.year.is_(None)))
        cond = scope[0] if len(scope) == 1 else scope[0] & scope[1]
        if ids:
            cond = or_(cond, Pipeline.id.in_(ids) & live)
        rows = list(s.scalars(select(Pipeline).where(cond)
                              .order_by(Pipeline.created_at.desc()).limit(MAX_PIPELINES)
                              .execution_options(populate_existing=True)))
        out = []
        progress = templates.get_template("_progress.html")
        for p in rows:
            view = pipelines.summary(s, p)
            out.append({"id": view["id"], "status": view["status"],
                        "terminal": view["terminal"], "module": view["module"],
                        "year": view["year"], "det": view["det"], "kind": view["kind"],
                        "progress_text": view["progress_text"],
                        "html": progress.render(p=view)})
        return out


async def _events(request: Request, year: int | None, ids: list[uuid.UUID], since: float):
    settings = get_settings()
    sent: dict[str, str] = {}
    sid = request.cookies.get(COOKIE)
    while True:
        started = time.time()
        try:
            snapshots = await anyio.to_thread.run_sync(poll, sid, year, ids, since)
        except DBAPIError:
            yield ServerSentEvent(data=json.dumps({"detail": "database unavailable; "
                                                   "reconnecting"}), event="unavailable")
            return
        if snapshots is None:
            yield ServerSentEvent(data="{}", event="signed-out")
            return
        for snap in reversed(snapshots):  # oldest first, so cards appear in order
            body = json.dumps(snap, sort_keys=True, default=str)
            if sent.get(snap["id"]) != body:
                sent[snap["id"]] = body
                yield ServerSentEvent(data=body, event="pipeline", id=f"{started:.3f}")
        since = started - SLACK_SECONDS
        await anyio.sleep(settings.sse_poll_seconds)
        if await request.is_disconnected():
            return


@router.get("/events")
async def events(request: Request, user: User,
                 year: Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX)] = None,
                 p: Annotated[list[str], Query(max_length=64)] = []  # noqa: B006
                 ) -> EventSourceResponse:
    since = _since(request.headers.get("last-event-id"))
    return EventSourceResponse(
        _events(request, year, _ids(p), since), ping=get_settings().sse_ping_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
