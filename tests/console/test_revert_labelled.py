"""A revert's pipeline says it is an undo, and of which upload.

Before: the pipeline of "revert job 31" read "Factor upload" on the pipelines page, on a
progress card, in `carbon pipelines` and in `GET /v1/sync/pipelines/…`, the same as the
upload it took back: nothing told an operator looking at the list that the scope's last
upload had been undone, or by which run. Now each says "Factor upload — undo of job 31"
(the CLI "…: undo of job 31" under its table), and the API and `carbon pipelines --json`
give ``reverts_job_id`` (null for every other pipeline), whether the revert was started
directly or by applying a revert's preview."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .support import (
    EQUIPMENT,
    F_HEADER,
    FACTORS,
    IT,
    YEAR,
    run,
    seed_equipment,
    sign_in,
    wait_pipeline,
)

pytestmark = pytest.mark.integration
HX = {"HX-Request": "true"}


def _cli_pipelines(*args: str) -> str:
    r = CliRunner().invoke(cli_app, ["pipelines", *args], env={"COLUMNS": "120"})
    assert r.exit_code == 0, (r.stdout, r.stderr, r.exception)
    return r.stdout


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _pipeline_of(job_id: int) -> str:
    with session_scope() as s:
        return str(s.execute(text("SELECT pipeline_id FROM data_ingestion_jobs WHERE id = :j"),
                             {"j": job_id}).scalar_one())


def _factor_upload() -> int:
    """One more factor upload of `it`: its emission factor doubled (a change to undo)."""
    body = F_HEADER + FACTORS[IT].replace(",0.1\n", ",0.2\n")
    assert body != F_HEADER + FACTORS[IT]
    acc = ops.start_upload("factors", body.encode(), module=EQUIPMENT, det=IT, year=YEAR,
                           created_by="ops")
    assert run(acc) in ("SUCCESS", "WARNING")
    assert acc.job_id is not None
    return int(acc.job_id)


def test_a_revert_is_labelled_as_the_undo_of_its_upload(http: httpx.Client,
                                                        tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=6, types=(IT,))
    upload = _factor_upload()
    op = _auth(tokens["operator"])

    r = http.post(f"/v1/sync/uploads/{upload}/revert", headers=op)
    assert r.status_code == 202, r.text
    undo = r.json()["pipeline_id"]
    assert wait_pipeline(undo) in ("SUCCESS", "WARNING")

    api = http.get(f"/v1/sync/pipelines/{undo}", headers=op).json()
    assert api["reverts_job_id"] == upload
    assert http.get(f"/v1/sync/pipelines/{_pipeline_of(upload)}", headers=op).json()[
        "reverts_job_id"] is None
    page_1 = http.get("/v1/sync/pipelines", headers=op, params={"limit": 50}).json()
    listed = {p["pipeline_id"]: p["reverts_job_id"] for p in page_1["items"]}
    assert listed[undo] == upload and listed[_pipeline_of(upload)] is None

    # The CLI: --json as the API, and a line under the table.
    rows = {r["id"]: r["reverts_job_id"] for r in json.loads(_cli_pipelines("--json"))}
    assert rows[undo] == upload and rows[_pipeline_of(upload)] is None
    table = _cli_pipelines()
    assert f"{undo[:8]}: undo of job {upload}" in table, table
    assert table.count("undo of job") == 1

    sign_in(http, tokens["operator"])
    page = http.get("/console/pipelines").text
    assert page.count(f"Factor upload — undo of job {upload}") == 1
    detail = http.get(f"/console/pipelines/{undo}").text
    assert f"undo of job {upload}" in detail
    # One undo on the page: the upload it undid still reads as a plain upload.
    assert page.count("— undo of job") == 1


def test_an_applied_revert_preview_is_labelled_too(http: httpx.Client,
                                                   tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=6, types=(IT,))
    upload = _factor_upload()
    op = _auth(tokens["operator"])
    r = http.post(f"/v1/sync/uploads/{upload}/revert", headers=op, params={"preview": "true"})
    assert r.status_code == 202, r.text
    wait_pipeline(r.json()["pipeline_id"])
    # The preview's own pipeline computes figures: it undoes nothing yet.
    assert http.get(f"/v1/sync/pipelines/{r.json()['pipeline_id']}", headers=op).json()[
        "reverts_job_id"] is None
    a = http.post(f"/v1/sync/previews/{r.json()['preview_id']}/apply", headers=op)
    assert a.status_code == 202, a.text
    applied = a.json()["pipeline_id"]
    assert wait_pipeline(applied) in ("SUCCESS", "WARNING")
    assert http.get(f"/v1/sync/pipelines/{applied}", headers=op).json()["reverts_job_id"] == upload
    sign_in(http, tokens["operator"])
    assert f"Factor upload — undo of job {upload}" in http.get("/console/pipelines").text
