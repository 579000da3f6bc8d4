"""One Server-Sent Events connection per console page, multiplexed over every pipeline the
page shows.

A page subscribes with its scope — ``year`` (the pipelines of that year plus the reference
uploads, which have no year) or nothing (every pipeline, for the pipelines page) — and any
explicit pipeline ids (``p``). Every poll reads, in a worker thread, the pipelines of the scope
that are RUNNING or finished since the previous poll, and sends ``event: pipeline`` with the
server-rendered progress card for each one whose card changed (with ``rows=1``, the pipelines
page, also the live cells of its row; the page refetches an opened Details panel whenever the
card changed). So a pipeline started after the
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
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from sqlalchemy.exc import DBAPIError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from carbon_api import sse
from carbon_api.accepting import accepted
from carbon_api.console import pipelines
from carbon_api.console.changes import changes
from carbon_api.console.web import PREFIX, User, templates
from carbon_api.deps import OptionalYear
from carbon_domain.catalog import MODULE_OF, DataEntryType
from carbon_domain.db.session import session_scope
from carbon_domain.services.access import console_sessions as sessions
from carbon_domain.services.access.console_sessions import COOKIE
from carbon_domain.services.reads import pipeline_reads
from carbon_domain.settings import get_settings

router = APIRouter(prefix=PREFIX, include_in_schema=False)
# Poll boundaries overlap by this much so a pipeline finishing during a poll is never missed
# (duplicates are suppressed by comparing the rendered card).
SLACK_SECONDS = 2.0
MAX_PIPELINES = 50
# A stream wakes between polls when this process accepted an operation (the page's own
# click: it polls at once), or when the database notices that a pipeline moved (changes.py:
# a job's progress, state or message, a pipeline's status; PostgreSQL). On a notice, while
# a pipeline of the page runs, it polls at most every MIN_POLL_GAP_SECONDS and sees the
# change within WAKE_CHECK_SECONDS on average; an idle page (a notice of any pipeline of any
# year wakes it: the notice names a pipeline, not its scope) at most every
# IDLE_MIN_POLL_GAP_SECONDS, checking IDLE_WAKE_CHECK_SECONDS apart, so a burst of other
# pipelines' notices costs it at most four polls a second. The interval is the safety net:
# while a pipeline of the page runs, LIVE_POLL_SECONDS when notices arrive (the elapsed time
# still ticks), else LIVE_POLL_FALLBACK_SECONDS (SQLite, or the listening connection lost):
# its end shows at most 0.1 s late; an idle page polls at the configured pace. Polling ten
# times a second while a job ran cost the API process CPU the job's workers needed on 2
# cores. (Measured with `python -m bench.operator_wait`: docs/performance.md.)
LIVE_POLL_SECONDS = 0.5
LIVE_POLL_FALLBACK_SECONDS = 0.1
WAKE_CHECK_SECONDS = 0.02
MIN_POLL_GAP_SECONDS = 0.05
IDLE_WAKE_CHECK_SECONDS = 0.05
IDLE_MIN_POLL_GAP_SECONDS = 0.25
ROW_CELLS = ("status", "phases", "duration", "message")  # macros of _pipeline_row.html


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


def touched_modules(v: pipeline_reads.PipelineView) -> list[int]:
    """The modules whose cards this pipeline's work changes: its own and those of every type
    it recalculates (an equipment upload also recalculates the research facilities, whose
    factors come from the facility units' emissions). Empty for a pipeline of no module (a
    reference or units upload): what it changes is known only once the statuses are read
    again, so the page refreshes every module it shows."""
    if v.module_type_id is None:
        return []
    found = {v.module_type_id}
    found.update(MODULE_OF[DataEntryType(t.data_entry_type_id)].value for t in v.types
                 if t.data_entry_type_id is not None)
    return sorted(found)


def stage(v: pipeline_reads.PipelineView) -> str:
    """What a module card can show differently: the phases' and the types' states and
    results, never the progress counts. The page refreshes the touched modules' cards when
    it changes (an upload's types turn "recalculating" when its recalculation starts,
    "up to date" when it ends), not on every progress tick."""
    phases = ",".join(f"{ph.name}:{ph.state}:{ph.result or ''}" for ph in v.phases)
    types = ",".join(f"{t.job_id}:{t.state}:{t.result or ''}" for t in v.types)
    return f"{v.display_status}|{phases}|{types}"


def poll(session_id: str | None, year: int | None, ids: list[uuid.UUID], since: float,
         rows: bool = False, pipelines_url: str = "") -> list[dict[str, Any]] | None:
    """The scope's pipelines running or finished since ``since``; None when signed out.
    ``rows``: also the live cells of the pipelines page's row (status, phases, duration,
    message). ``pipelines_url``: the pipelines page the cards link to (no request here)."""
    with session_scope() as s:
        if sessions.current_user(s, session_id) is None:
            return None
        found = pipeline_reads.live(s, since=datetime.fromtimestamp(since, tz=UTC), year=year,
                                    ids=ids, limit=MAX_PIPELINES)
    out = []
    progress = templates.get_template("_progress.html")
    cells = templates.get_template("_pipeline_row.html").module if rows else None
    for v in found:
        view = pipelines.summary(v)
        snap = {"id": view["id"], "status": view["status"],
                "display_status": view["display_status"], "terminal": view["terminal"],
                "module": view["module"], "year": view["year"], "det": view["det"],
                "kind": view["kind"], "progress_text": view["progress_text"],
                "modules": touched_modules(v), "stage": stage(v),
                "html": progress.render(p=view, pipelines_url=pipelines_url)}
        if cells is not None:
            snap["cells"] = {name: str(getattr(cells, f"{name}_cell")(view))
                             for name in ROW_CELLS}
        out.append(snap)
    return out


async def _events(request: Request, year: int | None, ids: list[uuid.UUID], since: float,
                  rows: bool = False):
    settings = get_settings()
    sent: dict[str, str] = {}
    sid = request.cookies.get(COOKIE)
    page = request.app.url_path_for("pipelines_page")
    changes.ensure_started()
    while True:
        started, seen = time.time(), (accepted.value, changes.value)
        try:
            snapshots = await anyio.to_thread.run_sync(poll, sid, year, ids, since, rows, page)
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
        running = any(not snap["terminal"] for snap in snapshots)
        live = LIVE_POLL_SECONDS if changes.live else LIVE_POLL_FALLBACK_SECONDS
        await _pause(min(settings.sse_poll_seconds, live) if running
                     else settings.sse_poll_seconds, seen, started, running)
        if await request.is_disconnected():
            return


async def _pause(seconds: float, seen: tuple[int, int], polled: float, running: bool
                 ) -> None:
    """Wait until the next poll, or less once an operation was accepted or a pipeline
    change noticed since ``seen`` (at least the minimum gap after the poll that started at
    ``polled``, wall clock)."""
    check = WAKE_CHECK_SECONDS if running else IDLE_WAKE_CHECK_SECONDS
    gap = MIN_POLL_GAP_SECONDS if running else IDLE_MIN_POLL_GAP_SECONDS
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await anyio.sleep(min(left, check))
        if accepted.value != seen[0]:
            return  # this process started it (the page's click, most likely): at once
        if changes.value != seen[1] and time.time() - polled >= gap:
            return


@router.get("/events")
async def events(request: Request, user: User,
                 year: OptionalYear = None,
                 p: Annotated[list[str], Query(max_length=64)] = [],  # noqa: B006
                 rows: Annotated[bool, Query()] = False) -> EventSourceResponse:
    since = _since(request.headers.get("last-event-id"))
    # At most CARBON_SSE_MAX_STREAMS per session (429 past it): a page holds one.
    slot = sse.SLOTS.acquire("session:" + (request.cookies.get(COOKIE) or ""))
    return EventSourceResponse(
        _released(_events(request, year, _ids(p), since, rows), slot),
        ping=get_settings().sse_ping_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(slot.release))


async def _released(events: AsyncIterator[ServerSentEvent], slot: sse.Slot
                    ) -> AsyncIterator[ServerSentEvent]:
    try:
        async for e in events:
            yield e
    finally:
        slot.release()
