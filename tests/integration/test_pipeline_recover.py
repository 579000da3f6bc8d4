"""Recovering what a run left: ``POST /v1/sync/pipelines/{id}/recover`` (202 with a new
pipeline, 409 while it runs or when it left nothing, 404 unknown, 403 for a viewer) and
``carbon recover ID [--wait]``, on real runs with the suite's worker.

The run to recover is a recalculation of a type that is already up to date, held
mid-flight by a row lock on one of its entries and then aborted: the staleness status still
says "up to date" (the aborted run is no newer input), which made the console's former
"recalculate the types left stale" answer 400. Recovery re-runs the run's own types.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads import pipeline_reads
from carbon_domain.services.reads.status import stale_types
from carbon_tasks import operations as ops
from tests.console.support import (
    EQUIPMENT,
    IT,
    YEAR,
    EntryLock,
    last_entry_id,
    seed_equipment,
    wait_pipeline,
)

from .api_support import Tokens
from .test_pipelines_console import ERR, T0, make_pipeline

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def aborted(api: TestClient, tokens: Tokens) -> Iterator[str]:
    """An up-to-date type's recalculation, held, refused recovery while running, aborted."""
    # 40 entries: one chunk (the suite's chunk size is 50), held by the lock, so the abort
    # always lands before any chunk finished. With 60 the first chunk could commit before the
    # abort (it did in one CI run; an incremental run would have left numbers partly rewritten).
    seed_equipment(entries_per_type=40, types=(IT,))
    with session_scope() as s:
        assert stale_types(s, EQUIPMENT, YEAR) == []
    with EntryLock(last_entry_id(IT)):
        acc = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="t")
        r = api.post(f"/v1/sync/pipelines/{acc.pipeline_id}/recover", headers=tokens.op)
        assert r.status_code == 409, r.text
        assert "still running" in r.json()["detail"]
        r = api.post(f"/v1/sync/pipelines/{acc.pipeline_id}/abort", headers=tokens.op)
        assert r.status_code == 200 and r.json()["aborted_job_ids"], r.text
    assert wait_pipeline(acc.pipeline_id) == "ABORTED"
    with session_scope() as s:
        assert stale_types(s, EQUIPMENT, YEAR) == []  # status alone would offer nothing
        v = pipeline_reads.view(s, acc.pipeline_id)
        assert v is not None and v.recoverable_types == [IT] and not v.can_abort
    yield acc.pipeline_id


def _recalculated_types(pipeline_id: str) -> list[int | None]:
    with session_scope() as s:
        d = pipeline_reads.detail(s, pipeline_id)
        assert d is not None
        return [j.data_entry_type_id for j in d.jobs if j.job_type == JobType.emission_recalc]


def test_recover_an_aborted_run_over_http(api: TestClient, tokens: Tokens,
                                          aborted: str) -> None:
    url = f"/v1/sync/pipelines/{aborted}/recover"
    r = api.post(url, headers=tokens.view)
    assert r.status_code == 403, r.text
    r = api.post(url, headers=tokens.op)
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"job_id", "pipeline_id", "state", "message"}
    assert body["pipeline_id"] != aborted and f"pipeline {aborted[:8]}" in body["message"]
    assert wait_pipeline(body["pipeline_id"]) == "SUCCESS"
    assert _recalculated_types(body["pipeline_id"]) == [IT]
    # The new run succeeded: it leaves nothing; the aborted one can be recovered again.
    r = api.post(f"/v1/sync/pipelines/{body['pipeline_id']}/recover", headers=tokens.op)
    assert r.status_code == 409 and "left nothing" in r.json()["detail"], r.text
    r = api.post(f"/v1/sync/pipelines/{uuid.uuid4()}/recover", headers=tokens.op)
    assert r.status_code == 404, r.text
    assert api.post("/v1/sync/pipelines/not-a-uuid/recover",
                    headers=tokens.op).status_code == 422


def test_an_upload_that_wrote_nothing_leaves_nothing(api: TestClient, tokens: Tokens) -> None:
    pid = make_pipeline(JobType.csv_ingest, EQUIPMENT, YEAR, "bob", T0,
                        [(JobType.csv_ingest, *ERR)])
    r = api.post(f"/v1/sync/pipelines/{pid}/recover", headers=tokens.op)
    assert r.status_code == 409, r.text
    assert "wrote nothing" in r.json()["detail"]


def _cli(*args: str) -> Any:
    return runner.invoke(cli_app, [*args])


def test_carbon_recover(api: TestClient, aborted: str) -> None:
    result = _cli("recover", aborted[:8], "--wait", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = json.loads(result.stdout)
    assert out["pipeline_status"] == "SUCCESS" and out["pipeline_id"] != aborted
    assert _recalculated_types(out["pipeline_id"]) == [IT]
    result = _cli("recover", out["pipeline_id"])
    assert result.exit_code == 1 and "left nothing to recalculate" in result.stderr
    result = _cli("recover", str(uuid.uuid4()))
    assert result.exit_code == 1 and "not found" in result.stderr
