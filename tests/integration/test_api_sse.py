"""SSE through a real HTTP server (uvicorn in a thread): progress events and the terminal
event of a real pipeline, keep-alive pings, and a client disconnect ends the server side."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.settings import get_settings

from .api_support import Tokens, wait_idle
from .helpers import UNITS_CSV

pytestmark = pytest.mark.integration

N_ENTRIES = 1500  # 30 chunks of 50 (CARBON_CHUNK_SIZE in tests): progress is visible
IT_FACTORS = ("equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
              "Laptop,Standard,100,10,0.1\n")
IT_ENTRIES = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
              "active_usage_hours_per_week,standby_usage_hours_per_week\n") + "".join(
    f"{'UA' if i % 2 else 'UB'},INV-{i},L{i},Laptop,Standard,40,128\n" for i in range(N_ENTRIES))


@pytest.fixture(scope="module")
def server(pg_database: str) -> Iterator[tuple[str, uvicorn.Server]]:
    from carbon_api.app import app
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="off", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", srv
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def fast_sse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "sse_poll_seconds", 0.02)
    monkeypatch.setattr(get_settings(), "sse_ping_seconds", 0.2)


def read_events(client: httpx.Client, url: str, headers: dict[str, str],
                on_first: Any = None) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """(events as (name, data), ping comments) until the server closes the stream."""
    events: list[tuple[str, dict[str, Any]]] = []
    pings = 0
    with client.stream("GET", url, headers=headers, timeout=30) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        name, data = "message", ""
        for line in r.iter_lines():
            if line.startswith(":"):
                pings += 1
            elif line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data += line.split(":", 1)[1].strip()
            elif line == "" and data:
                events.append((name, json.loads(data)))
                if on_first is not None and len(events) == 1:
                    on_first()
                name, data = "message", ""
    return events, pings


def post(client: httpx.Client, path: str, body: str, tokens: Tokens, **params: Any) -> Any:
    r = client.post(path, params=params, headers=tokens.op,
                    files={"file": ("f.csv", body.encode(), "text/csv")})
    assert r.status_code == 202, r.text
    return r.json()


def test_pipeline_and_job_streams_show_progress_and_end(
        server: tuple[str, uvicorn.Server], db: str, worker: Any, tokens: Tokens,
        fast_sse: None) -> None:
    base, _ = server
    with httpx.Client(base_url=base) as client:
        for path, body, params in (("/v1/sync/units", UNITS_CSV, {"year": 2025}),
                                   ("/v1/sync/factors/4", IT_FACTORS,
                                    {"year": 2025, "data_entry_type_id": 11})):
            acc = post(client, path, body, tokens, **params)
            events, _ = read_events(client, f"/v1/sync/pipelines/{acc['pipeline_id']}/stream",
                                    tokens.view)
            assert events[-1] == ("end", {"stream_closed": True})
            assert events[-2][1]["status"] == "SUCCESS"

        # A data upload: ingest → chunked recalculation → aggregation, followed live.
        acc = post(client, "/v1/sync/data-entries/4", IT_ENTRIES, tokens, year=2025,
                   data_entry_type_id=11)
        events, pings = read_events(client, f"/v1/sync/pipelines/{acc['pipeline_id']}/stream",
                                    tokens.view)
        updates = [d for name, d in events if name == "pipeline-update"]
        assert events[-1][0] == "end" and len(updates) == len(events) - 1
        assert updates[0]["pipeline_id"] == acc["pipeline_id"]
        final = updates[-1]
        assert final["status"] == "SUCCESS" and final["progress"]["finished"]
        assert [j["job_type"] for j in final["jobs"]] == ["csv_ingest", "emission_recalc",
                                                          "aggregation"]
        assert not any(u["progress"]["finished"] for u in updates[:-1])
        # Progress was seen moving: recalculation snapshots with 0 < done < total.
        recalc_progress = [j["progress"] for u in updates for j in u["jobs"]
                           if j["job_type"] == "emission_recalc"]
        assert any(0 < p["done"] < p["total"] == N_ENTRIES for p in recalc_progress), \
            recalc_progress
        messages = {j["status_message"] for u in updates for j in u["jobs"]}
        assert any(m and m.startswith("Recalculating it (1/1): ") for m in messages), messages
        # Consecutive snapshots always differ (sent on change only).
        assert all(a != b for a, b in zip(updates, updates[1:], strict=False))

        # The job stream of a recalculation trigger, with keep-alive pings while it runs.
        r = client.post("/v1/sync/recalculate-emissions/4/11", params={"year": 2025},
                        headers=tokens.op)
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        events, _ = read_events(client, f"/v1/sync/jobs/{job_id}/stream", tokens.view)
        jobs_seen = [d for name, d in events if name == "job-update"]
        assert jobs_seen[-1]["state"] == "FINISHED" and jobs_seen[-1]["result"] == "SUCCESS"
        assert jobs_seen[-1]["progress"] == {"done": N_ENTRIES, "total": N_ENTRIES}
        assert events[-1] == ("end", {"stream_closed": True})
    wait_idle()


def test_pings_and_disconnect(server: tuple[str, uvicorn.Server], db: str, worker: Any,
                              tokens: Tokens, fast_sse: None) -> None:
    """A job that never runs (left in the outbox): the stream sends its snapshot, then only
    pings; when the client goes away the server's request task ends."""
    base, srv = server
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.factor_ingest, module_type_id=4, year=2025,
                                 created_by="t")
        job = jobs.create_job(s, pipeline_id=p.id, job_type=JobType.factor_ingest,
                              target_type=TargetType.FACTORS,
                              ingestion_method=IngestionMethod.csv, module_type_id=4, year=2025)
        job_id = job.id
    with httpx.Client(base_url=base) as client:
        with client.stream("GET", f"/v1/sync/jobs/{job_id}/stream", headers=tokens.view,
                           timeout=10) as r:
            assert r.status_code == 200
            lines: list[str] = []
            started = time.monotonic()
            for line in r.iter_lines():
                lines.append(line)
                if sum(x.startswith(":") for x in lines) >= 2:
                    break
            assert time.monotonic() - started < 5
        assert any(x.startswith("event: job-update") for x in lines)
        assert sum(x.startswith("event:") for x in lines) == 1  # nothing changed since
    # The client is gone: the server notices and ends the request (no task left behind).
    deadline = time.monotonic() + 5
    while srv.server_state.tasks:
        assert time.monotonic() < deadline, "the stream kept running after the disconnect"
        time.sleep(0.05)
    with session_scope() as s:
        pipelines.abort_pipeline(s, p.id, "test")


def test_stream_of_unknown_ids_is_404_before_streaming(server: tuple[str, uvicorn.Server],
                                                      db: str, tokens: Tokens) -> None:
    base, _ = server
    with httpx.Client(base_url=base) as client:
        r = client.get("/v1/sync/jobs/99999/stream", headers=tokens.view)
        assert r.status_code == 404 and r.headers["content-type"] == "application/json"
        r = client.get("/v1/sync/pipelines/00000000-0000-4000-8000-000000000000/stream",
                       headers=tokens.view)
        assert r.status_code == 404
        assert client.get("/v1/sync/jobs/1/stream").status_code == 401
