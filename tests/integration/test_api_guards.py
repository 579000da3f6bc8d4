"""HTTP guards found by the security review, each checked with a request: live streams are
capped per token and end when the token is revoked; sign-in and sign-out refuse an oversized
form before parsing it; authenticated answers and downloads are ``no-store``; a stored upload
with a non-Latin-1 file name downloads."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlencode

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import revoke_token
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.settings import get_settings

from . import test_api_sse
from .api_support import Tokens, upload, wait_job
from .helpers import UNITS_CSV

pytestmark = pytest.mark.integration
server = test_api_sse.server  # a uvicorn in a thread: real streams
fast_sse = test_api_sse.fast_sse
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _idle_job() -> tuple[Any, int]:
    """A job left in the outbox (no broker message): its stream polls until closed."""
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.factor_ingest, module_type_id=4, year=2025,
                                 created_by="t")
        job = jobs.create_job(s, pipeline_id=p.id, job_type=JobType.factor_ingest,
                              target_type=TargetType.FACTORS,
                              ingestion_method=IngestionMethod.csv, module_type_id=4, year=2025)
        return p.id, job.id


def _first_event(lines: Iterator[str]) -> str:
    for line in lines:
        if line.startswith("event:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no event")


def test_live_streams_are_capped_per_token(server: tuple[str, uvicorn.Server], db: str,
                                           tokens: Tokens, fast_sse: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "sse_max_streams", 3)
    base, _ = server
    pid, job_id = _idle_job()
    url = f"/v1/sync/jobs/{job_id}/stream"
    with httpx.Client(base_url=base, timeout=10) as client:
        readers: list[Iterator[str]] = []
        with contextlib.ExitStack() as open_streams:
            for _ in range(3):
                r = open_streams.enter_context(client.stream("GET", url, headers=tokens.view))
                assert r.status_code == 200
                # Kept: a line iterator dropped half-read closes its connection.
                readers.append(r.iter_lines())
                assert _first_event(readers[-1]) == "job-update"
            refused = client.get(url, headers=tokens.view)
            assert refused.status_code == 429, refused.text
            assert "at most 3" in refused.json()["detail"]
            # Another token has its own allowance.
            with client.stream("GET", url, headers=tokens.op) as other:
                assert other.status_code == 200
        # Closed streams give their slots back once the server notices (next poll).
        deadline = time.monotonic() + 5
        while True:
            with client.stream("GET", url, headers=tokens.view) as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "slots were not given back"
            time.sleep(0.05)
    with session_scope() as s:
        pipelines.abort_pipeline(s, pid, "test")


def test_a_revoked_token_ends_its_stream(server: tuple[str, uvicorn.Server], db: str,
                                         tokens: Tokens, fast_sse: None) -> None:
    base, _ = server
    pid, job_id = _idle_job()
    with httpx.Client(base_url=base, timeout=10) as client, client.stream(
            "GET", f"/v1/sync/jobs/{job_id}/stream", headers=tokens.view) as r:
        lines = r.iter_lines()
        assert next(line for line in lines if line.startswith("event:")) == "event: job-update"
        with session_scope() as s:
            assert revoke_token(s, "dash-bob")
        started = time.monotonic()
        rest = list(lines)  # the server closes the stream
    assert time.monotonic() - started < 5
    assert "event: end" in rest and 'data: {"detail": "token revoked"}' in rest
    with session_scope() as s:
        pipelines.abort_pipeline(s, pid, "test")


def test_sign_in_and_out_refuse_oversized_forms(api: TestClient) -> None:
    limit = get_settings().max_form_bytes
    big = {"token": "x", "login_csrf": "y", "pad": "z" * (limit + 1)}
    r = api.post("/login", data=big)
    assert r.status_code == 413 and "at most" in r.json()["detail"]
    many = urlencode([("f", "v" * 1024)] * 300)  # 300 fields of 1 KiB: 300 KiB
    assert api.post("/login", content=many, headers=FORM).status_code == 413
    files = {"f": ("x.bin", b"\0" * (limit + 1), "application/octet-stream")}
    assert api.post("/logout", files=files).status_code == 413

    def chunked() -> Any:
        for _ in range(limit // 1024 + 2):
            yield b"a" * 1024
    r = api.post("/login", content=chunked(), headers=FORM)
    assert r.status_code == 413
    # A normal sign-in form still reaches the route (which then says why it is refused).
    r = api.post("/login", data={"token": "x", "login_csrf": "y"})
    assert r.status_code == 400 and "form expired" in r.text


def test_authenticated_answers_and_downloads_are_no_store(api: TestClient, tokens: Tokens
                                                          ) -> None:
    for path in ("/v1/catalog/modules", "/v1/sync/pipelines", "/v1/reports?year=2025"):
        r = api.get(path, headers=tokens.view)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", path
    assert api.get("/v1/catalog/modules").headers["cache-control"] == "no-store"  # the 401
    r = upload(api, "/v1/sync/units", UNITS_CSV, tokens.op, filename="数据.csv", year=2025)
    assert r.status_code == 202 and r.headers["cache-control"] == "no-store"
    wait_job(api, r.json()["job_id"], tokens.op)
    r = api.get("/v1/exports/results.csv", params={"year": 2025, "allow_stale": "true"},
                headers=tokens.view)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert "health" not in r.headers.get("cache-control", "")
    assert "cache-control" not in api.get("/v1/health").headers


def test_a_stored_upload_with_a_non_latin1_name_downloads(api: TestClient, tokens: Tokens
                                                          ) -> None:
    r = upload(api, "/v1/sync/units", UNITS_CSV, tokens.op, filename="数据.csv", year=2025)
    assert r.status_code == 202
    pipeline = r.json()["pipeline_id"]
    wait_job(api, r.json()["job_id"], tokens.op)
    nonce = api.get("/login").text.split('name="login_csrf" value="')[1].split('"')[0]
    assert api.post("/login", data={"token": tokens.viewer, "login_csrf": nonce},
                    follow_redirects=False).status_code == 303
    r = api.get(f"/console/pipelines/{pipeline}/upload")
    assert r.status_code == 200, r.text
    assert r.content == UNITS_CSV.encode()
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="upload.csv"; filename*=UTF-8\'\'')
    assert unquote(disposition.split("UTF-8''")[1]) == "数据.csv"
    assert r.headers["cache-control"] == "no-store"
