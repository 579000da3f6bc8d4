"""What the display-state tests share: the three surfaces (API JSON, CLI --json, the
console's module card) read side by side, and job rows written the way the job service
writes them."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.models import RecalcChunk
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs as job_service
from carbon_domain.services.jobs import pipelines

from .support import EQUIPMENT, YEAR

runner = CliRunner()
STATES = {"up_to_date", "needs_recalculation", "recalculating", "failed", "incomplete"}


def api_status(http: httpx.Client, token: str) -> list[dict[str, Any]]:
    r = http.get("/v1/sync/recalculation-status", params={"year": YEAR},
                 headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return list(r.json())


def cli_status() -> list[dict[str, Any]]:
    result = runner.invoke(cli_app, ["status", "-y", str(YEAR), "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return list(json.loads(result.stdout))


def card_states(http: httpx.Client) -> tuple[str, dict[int, str], str]:
    """(module state, {type: state}, the fragment) from the console's module card; each row
    carries exactly one state badge."""
    html = http.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}").text
    (module,) = re.findall(r'data-module-state="([a-z_]+)"', html)
    rows = {}
    for det, state, row in re.findall(
            r'<tr id="type-(\d+)" data-stale="[01]" data-state="([a-z_]+)">(.*?)</tr>', html,
            re.S):
        assert row.count("data-state-badge") == 1, row
        rows[int(det)] = state
    return module, rows, html


def type_of(rows: list[dict[str, Any]], det: int) -> dict[str, Any]:
    (m,) = [m for m in rows if m["module_type_id"] == EQUIPMENT]
    (t,) = [t for t in m["data_entry_types"] if t["data_entry_type_id"] == det]
    return t


def agree(http: httpx.Client, token: str) -> dict[str, Any]:
    """The three surfaces show the same state per type and for the module; returns the API's
    equipment module."""
    api, cli = api_status(http, token), cli_status()
    module_state, card, _ = card_states(http)
    (m,) = [m for m in api if m["module_type_id"] == EQUIPMENT]
    (cm,) = [c for c in cli if c["module_type_id"] == EQUIPMENT]
    assert m["state"] == cm["state"] == module_state, (m["state"], cm["state"], module_state)
    for t in m["data_entry_types"]:
        det = t["data_entry_type_id"]
        assert t["state"] in STATES
        assert t["state"] == type_of(cli, det)["state"] == card[det], (det, t, card)
        assert t["reasons"] == type_of(cli, det)["reasons"]
    return dict(m)


def add_job(job_type: JobType, det: int | None, *, state: str = "FINISHED",
             result: str | None = "SUCCESS", by: str = "bob", message: str | None = None,
             meta: dict[str, Any] | None = None, pipeline: bool = False) -> int:
    target = {JobType.factor_ingest: TargetType.FACTORS,
              JobType.aggregation: TargetType.STATISTICS}.get(job_type, TargetType.DATA_ENTRIES)
    with session_scope() as s:
        pid = pipelines.create_pipeline(s, kind=job_type, module_type_id=EQUIPMENT,
                                          year=YEAR, created_by=by).id if pipeline else None
        job = job_service.create_job(
            s, pipeline_id=pid, job_type=job_type, target_type=target,
            ingestion_method=IngestionMethod.csv, module_type_id=EQUIPMENT,
            data_entry_type_id=det, year=YEAR, created_by=by)
        job.state, job.result = state, result
        job.meta = {**job.meta, **(meta or {})}
        job.status_message = message
        if state == "FINISHED":
            job.finished_at = utcnow()
        s.flush()
        return int(job.id)


def add_chunks(job_id: int, total: int, done: int) -> None:
    with session_scope() as s:
        s.add_all(RecalcChunk(job_id=job_id, chunk_no=n, lo_id=n, hi_id=n, planned_entries=1,
                              done=n < done) for n in range(total))
