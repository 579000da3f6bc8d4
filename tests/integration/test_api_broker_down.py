"""Broker unreachable: the API (a real uvicorn process whose CELERY_BROKER_URL points at a
closed port, on the same PostgreSQL database) answers 503 with the saved job's id; the job
row is kept, NOT_STARTED, with a message saying why, for the reconciler to dispatch later."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from carbon_domain.db.models import DataIngestionJob, UploadedFile
from carbon_domain.db.session import session_scope

from .api_support import Tokens, insert_entry, row_counts
from .helpers import UNITS_CSV

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def api_without_broker(db: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, dead = _free_port(), _free_port()
    env = {**os.environ,
           "CELERY_BROKER_URL": f"redis://127.0.0.1:{dead}/0",
           "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{dead}/1"}
    log = tmp_path / "api.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "carbon_api.app:app", "--host", "127.0.0.1",
             "--port", str(port), "--no-access-log"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _complete_json_lines(log: Path) -> list[dict[str, object]]:
    """The server is still running and may be writing the access line of the last request
    while we read: a line without its newline is still being written, so it is left out."""
    text = log.read_text()
    done = text[:text.rfind("\n") + 1]
    return [json.loads(x) for x in done.splitlines() if x.startswith("{")]


def test_broker_down_answers_503_and_keeps_the_job(api_without_broker: tuple[str, Path],
                                                   tokens: Tokens) -> None:
    base, log = api_without_broker
    with httpx.Client(base_url=base, timeout=30) as client:
        health = client.get("/v1/health")
        assert health.status_code == 503
        assert health.json() == {"status": "degraded", "database": "ok", "broker": "unavailable"}

        insert_entry(2025)  # something to recalculate (no broker to load it through)
        started = time.monotonic()
        r = client.post("/v1/sync/recalculate-emissions/4/11", params={"year": 2025},
                        headers={**tokens.op, "X-Request-ID": "outage-1"})
        assert time.monotonic() - started < 15
        assert r.status_code == 503, r.text
        body = r.json()
        job_id = body["job_id"]
        assert body["pipeline_id"]
        assert f"Job {job_id} was saved" in body["detail"]
        assert "broker is unreachable" in body["detail"] and "Do not resubmit" in body["detail"]
        with session_scope() as s:
            job = s.get(DataIngestionJob, job_id)
            assert job is not None
            assert (job.state, job.dispatched_at, job.created_by) == (
                "NOT_STARTED", None, "ops-alice")
            assert "broker unreachable" in (job.status_message or "")
            assert "the reconciler retries it" in (job.status_message or "")

        # A second click finds the waiting job: 202 with its id, nothing new created.
        before = row_counts()
        again = client.post("/v1/sync/recalculate-emissions/4/11", params={"year": 2025},
                            headers=tokens.op)
        assert again.status_code == 202 and again.json()["job_id"] == job_id
        assert row_counts() == before

        # An upload is stored with its job, so any worker can run it once the broker is back.
        r = client.post("/v1/sync/units", params={"year": 2025}, headers=tokens.op,
                        files={"file": ("units.csv", UNITS_CSV.encode(), "text/csv")})
        assert r.status_code == 503
        with session_scope() as s:
            upload_job = s.get(DataIngestionJob, r.json()["job_id"])
            assert upload_job is not None and upload_job.state == "NOT_STARTED"
            assert upload_job.upload_id is not None
            assert s.get(UploadedFile, upload_job.upload_id) is not None

        # The worker inventory cannot be read either: 503, quickly.
        started = time.monotonic()
        r = client.get("/v1/workers", headers=tokens.view)
        assert r.status_code == 503 and "broker is unreachable" in r.json()["detail"]
        assert time.monotonic() - started < 10
        # Reads that need only the database keep working.
        assert client.get(f"/v1/sync/jobs/{job_id}", headers=tokens.view).status_code == 200

    lines = _complete_json_lines(log)
    saved = [x for x in lines if x.get("request_id") == "outage-1"
             and "not dispatched" in x["msg"]]
    assert saved and saved[0]["job_id"] == job_id and saved[0]["level"] == "WARNING"
