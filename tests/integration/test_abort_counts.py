"""An aborted pipeline's counts say what its jobs say.

Aborting an upload's pipeline (its ingest not yet run, or running) finishes its job as ERROR;
the pipeline's ``job_count`` and ``error_count`` must count it, so ``GET
/v1/sync/pipelines/{id}`` agrees with its own jobs list and ``?has_errors=true`` finds it.
Before: the abort set ABORTED without recounting, and an ingest pipeline showed 0 jobs, 0
errors beside a job that ended ERROR.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from carbon_domain.db.enums import JobState
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .api_support import Tokens
from .test_pipeline_guarantees import EQUIP_FACTORS

pytestmark = pytest.mark.integration
YEAR, EQUIPMENT = 2025, 4


@contextmanager
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Jobs accepted inside are created but never sent to the worker."""
    kept: list[int] = []
    with monkeypatch.context() as m:
        m.setattr(ops, "dispatch_jobs", kept.extend)
        yield kept


def _upload_held(monkeypatch: pytest.MonkeyPatch) -> ops.Accepted:
    with held(monkeypatch):
        return ops.start_upload("factors", EQUIP_FACTORS.format(ef="0.1").encode(),
                                module=EQUIPMENT, year=YEAR, created_by="ops-alice")


def _assert_counts_follow_jobs(api: TestClient, tokens: Tokens, pid: str) -> None:
    detail = api.get(f"/v1/sync/pipelines/{pid}", headers=tokens.view).json()
    assert detail["status"] == "ABORTED"
    own = [j for j in detail["jobs"] if j["pipeline_id"] == pid]
    assert [(j["state"], j["result"]) for j in own] == [("FINISHED", "ERROR")]
    assert (detail["job_count"], detail["error_count"]) == (
        len(own), sum(j["result"] == "ERROR" for j in own)) == (1, 1)
    listed = api.get("/v1/sync/pipelines", params={"has_errors": "true"},
                     headers=tokens.view).json()
    assert pid in [p["pipeline_id"] for p in listed["items"]]
    clean = api.get("/v1/sync/pipelines", params={"has_errors": "false"},
                    headers=tokens.view).json()
    assert pid not in [p["pipeline_id"] for p in clean["items"]]


def test_an_upload_aborted_before_its_ingest_ran_counts_its_job_and_its_error(
        api: TestClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    acc = _upload_held(monkeypatch)
    r = api.post(f"/v1/sync/pipelines/{acc.pipeline_id}/abort", headers=tokens.op)
    assert r.status_code == 200, r.text
    assert r.json()["aborted_job_ids"] == [acc.job_id]
    _assert_counts_follow_jobs(api, tokens, acc.pipeline_id)


def test_an_upload_aborted_during_its_ingest_counts_its_job_and_its_error(
        api: TestClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    acc = _upload_held(monkeypatch)
    # The ingest task has claimed its job and is reading the file.
    with session_scope() as s:
        s.execute(update(Job).where(Job.id == acc.job_id).values(
            state=JobState.RUNNING, attempts=1, is_current=True))
    r = api.post(f"/v1/sync/pipelines/{acc.pipeline_id}/abort", headers=tokens.op)
    assert r.status_code == 200, r.text
    assert r.json()["aborted_job_ids"] == [acc.job_id]
    _assert_counts_follow_jobs(api, tokens, acc.pipeline_id)
