"""Workers report the product version they run (issue 15's workers panel): the in-process
test worker and a real ``carbon worker`` process started with another CARBON_RELEASE, both
answering Celery's remote control on the session's broker."""

from __future__ import annotations

import os
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon_tasks.workers import product_version
from tests.fault.harness import Worker

from .api_support import Tokens

pytestmark = pytest.mark.integration
PROBE_QUEUE = "default"  # only the reconciler (no beat here): the extra worker steals no work


def overview(api: TestClient, tokens: Tokens) -> dict[str, Any]:
    r = api.get("/v1/workers/overview", headers=tokens.view)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_workers_report_their_version(api: TestClient, tokens: Tokens, tmp_path: Path) -> None:
    mine = product_version()
    assert mine.startswith(metadata.version("carbon-pipeline"))
    first = overview(api, tokens)
    assert first["api_version"] == mine
    assert first["workers"] and all(w["version"] == mine for w in first["workers"])
    assert (first["versions"], first["versions_differ"]) == ([mine], False)
    listed = api.get("/v1/workers", headers=tokens.view).json()
    assert {w["name"] for w in listed} == {w["name"] for w in first["workers"]}
    assert all(w["version"] == mine and w["queues"] for w in listed)

    older = Worker("older", {**os.environ, "CARBON_RELEASE": "older-build"}, tmp_path,
                   queues=PROBE_QUEUE, concurrency=1).start()
    try:
        older.wait_ready(60)
        deadline = time.monotonic() + 30
        while True:
            seen = overview(api, tokens)
            other = [w for w in seen["workers"] if w["name"].startswith("older@")]
            if other or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert other, f"the second worker never answered\n{older.tail()}"
        (w,) = other
        expected = f"{metadata.version('carbon-pipeline')}+older-build"
        assert (w["version"], w["queues"], w["pid"]) == (expected, [PROBE_QUEUE], older.pid)
        assert seen["versions_differ"] is True
        assert sorted(seen["versions"]) == sorted([mine, expected])
    finally:
        older.kill()
