"""The console's one multiplexed SSE stream: several concurrent pipelines on one connection,
resuming with Last-Event-ID, and the end of the stream when the session ends."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from carbon_domain.settings import get_settings
from carbon_tasks import operations as ops

from .support import EQUIPMENT, IT, SCIENTIFIC, YEAR, seed_equipment, sign_in, wait_pipeline

pytestmark = pytest.mark.integration


def events(client: httpx.Client, url: str, headers: dict[str, str] | None = None
           ) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
    """(event, id, data) as they arrive."""
    with client.stream("GET", url, headers=headers or {}, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name, eid, data = "message", None, ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("id:"):
                eid = line[3:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif line == "" and data:
                yield name, eid, json.loads(data)
                name, eid, data = "message", None, ""


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "sse_poll_seconds", 0.1)


def test_one_connection_follows_concurrent_pipelines(http: httpx.Client,
                                                     tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=60)
    sign_in(http, tokens["operator"])
    a = ops.trigger_recalculation(module=EQUIPMENT, det=SCIENTIFIC, year=YEAR, created_by="t")
    b = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="t")
    wanted = {a.pipeline_id, b.pipeline_id}
    terminal: dict[str, str] = {}
    ids: list[str] = []
    for name, eid, data in events(http, f"/console/events?year={YEAR}"):
        assert name == "pipeline"
        ids.append(eid or "")
        assert data["year"] == YEAR and "pipeline-card" in data["html"]
        if data["terminal"]:
            terminal[data["id"]] = data["status"]
        if wanted <= set(terminal):
            break
    assert {terminal[a.pipeline_id], terminal[b.pipeline_id]} == {"SUCCESS"}
    assert all(float(i) > 0 for i in ids)


def test_resume_with_last_event_id_delivers_what_finished_meanwhile(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=30, types=(SCIENTIFIC,))
    sign_in(http, tokens["operator"])
    before = time.time()
    acc = ops.trigger_recalculation(module=EQUIPMENT, det=SCIENTIFIC, year=YEAR,
                                    created_by="t")
    assert wait_pipeline(acc.pipeline_id) == "SUCCESS"
    time.sleep(2.5)  # past the stream's 2 s overlap window
    # A fresh connection does not replay history: only a marker pipeline we start later
    # arrives, the finished one does not.
    marker = ops.start_upload("stations", b"name,latitude,longitude,country_code\n"
                              b"Lausanne,46.5167,6.6293,CH\n", created_by="t")
    seen = []
    for _, _, data in events(http, f"/console/events?year={YEAR}"):
        seen.append(data["id"])
        if data["id"] == marker.pipeline_id and data["terminal"]:
            break
    assert acc.pipeline_id not in seen
    # Reconnecting with the id of an event sent before it finished delivers its final state.
    for _, _, data in events(http, f"/console/events?year={YEAR}",
                             {"Last-Event-ID": f"{before:.3f}"}):
        if data["id"] == acc.pipeline_id:
            assert data["terminal"] and data["status"] == "SUCCESS"
            assert "Succeeded" in data["html"]
            break


def test_stream_ends_when_the_session_ends(http: httpx.Client, tokens: dict[str, str]) -> None:
    csrf = sign_in(http, tokens["viewer"])
    with httpx.Client(base_url=str(http.base_url), cookies=http.cookies, timeout=30) as other:
        with other.stream("GET", "/console/events") as r:
            assert r.status_code == 200  # connected and authenticated
            http.post("/logout", data={"csrf_token": csrf})
            lines = []
            for line in r.iter_lines():
                lines.append(line)
                if line.startswith("event:"):
                    break
    assert lines[-1] == "event: signed-out"
    r = http.get("/console/events", follow_redirects=False)
    assert r.status_code == 401 and r.headers["hx-redirect"].startswith("/login")


def _started_during_the_idle_wait(http: httpx.Client, token: str,
                                  monkeypatch: pytest.MonkeyPatch,
                                  start: Callable[[], ops.Accepted]) -> dict[str, float]:
    """Open the year's stream at a 30 s idle pace, call ``start`` once the stream waits,
    and return when its pipeline's card first showed and when its end showed (seconds
    after the start)."""
    import threading

    seed_equipment(entries_per_type=30, types=(SCIENTIFIC,))
    sign_in(http, token)
    monkeypatch.setattr(get_settings(), "sse_poll_seconds", 30.0)
    started: dict[str, Any] = {}

    def later() -> None:
        time.sleep(1.5)  # the stream has made its first poll and waits at the idle pace
        started["at"] = time.monotonic()
        started["acc"] = start()

    starter = threading.Thread(target=later)
    starter.start()
    seen: dict[str, float] = {}
    try:
        for name, _eid, data in events(http, f"/console/events?year={YEAR}"):
            if name == "pipeline" and "acc" in started and \
                    data["id"] == started["acc"].pipeline_id:
                seen.setdefault("card", time.monotonic() - started["at"])
                if data["terminal"]:
                    seen["end"] = time.monotonic() - started["at"]
                    assert data["status"] == "SUCCESS"
                    break
    finally:
        starter.join()
    return seen


def test_an_operation_accepted_here_ends_the_idle_wait(
        http: httpx.Client, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A page polls at the idle pace while nothing runs; an operation this API process
    accepts (the page's own click) wakes its stream, so a short job's card shows at once
    instead of after the idle interval (30 s here: without the wake-up this waits ~30 s)."""
    from carbon_api.accepting import accept_operation

    seen = _started_during_the_idle_wait(
        http, tokens["operator"], monkeypatch,
        lambda: accept_operation("recalculation", lambda: ops.trigger_recalculation(
            module=EQUIPMENT, det=SCIENTIFIC, year=YEAR, created_by="t")))
    assert seen["card"] < 10, f"the stream saw the new pipeline after {seen['card']:.1f} s"


def test_a_pipeline_started_elsewhere_ends_the_idle_wait(
        http: httpx.Client, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipeline started outside this API process (the CLI, another API process; here the
    operation called directly, which this process's ``accepted`` counter never sees) wakes
    the stream through the database's change notices (migration 0015): its card shows
    within seconds although the idle pace is 30 s, and its end follows."""
    seen = _started_during_the_idle_wait(
        http, tokens["operator"], monkeypatch,
        lambda: ops.trigger_recalculation(module=EQUIPMENT, det=SCIENTIFIC, year=YEAR,
                                          created_by="cli"))
    assert seen["card"] < 5, f"the stream saw the new pipeline after {seen['card']:.1f} s"
    assert seen["end"] < 20, f"the stream saw its end after {seen['end']:.1f} s"
