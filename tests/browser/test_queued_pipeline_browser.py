"""A pipeline no worker has started says so on every surface, and only until one starts it.

The type's status said "waiting for a worker" while the pipeline card, the pipelines page
(row, counts, filters), the API and `carbon pipelines` said "⟳ Running". A pipeline is now
shown as QUEUED ("⧗ Queued — waiting for a worker") while it is RUNNING and no job of it
(its own or one it joined) has started (pipeline_console.display_status, WAITING in SQL).

"No worker" is real: the suite's in-process Celery worker stops consuming every queue
(``cancel_consumer``, as tests/fault does), so the trigger's messages wait on the broker;
``add_consumer`` puts it back. A chunk is held by a row lock (tests/console/support.EntryLock)
so "running" is observed deterministically before the run ends.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads import pipeline_reads
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
from tests.integration.helpers import no_worker

from .conftest import Console

pytestmark = pytest.mark.integration
runner = CliRunner()
WAITING = "Queued — waiting for a worker"


def shown(pipeline_id: str) -> str:
    with session_scope() as s:
        v = pipeline_reads.view(s, pipeline_id)
        assert v is not None
        return v.display_status


def started_jobs(pipeline_id: str) -> int:
    with session_scope() as s:
        return len(list(s.scalars(select(Job.id).where(
            Job.pipeline_id == uuid.UUID(pipeline_id), Job.started_at.is_not(None)))))


def api(server: str, token: str, path: str, **params: Any) -> Any:
    r = httpx.get(server + path, params=params, headers={"Authorization": f"Bearer {token}"},
                  timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def cli(*args: str) -> Any:
    out = runner.invoke(cli_app, ["pipelines", *args], env={"COLUMNS": "140"})
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout) if "--json" in args else out.stdout


def row_status(page: Any, pipeline_id: str) -> Any:
    return page.locator(f"#row-{pipeline_id} [data-cell='status']")


def test_queued_until_a_worker_starts_it_then_running_then_succeeded(
        console: Console, tokens: dict[str, str], server: str) -> None:
    seed_equipment(entries_per_type=100, types=(IT,))  # 3 pipelines, SUCCESS
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    viewer = tokens["viewer"]
    lock = EntryLock(last_entry_id(IT))
    with no_worker():
        c.data()
        acc = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="t")
        pid = str(acc.pipeline_id)
        time.sleep(0.5)  # long enough for a worker to have taken it, had one been there
        assert started_jobs(pid) == 0 and shown(pid) == "QUEUED"
        # The data page's live card (placed by the stream).
        card = page.locator(f'#live-{EQUIPMENT} [data-pipeline="{pid}"] .pipeline-card')
        expect(card).to_have_attribute("data-display-status", "QUEUED")
        expect(card).to_contain_text(WAITING)
        expect(card).not_to_contain_text("Running")
        # The pipelines page: row, counts, the status filter and the counts' links.
        page.goto(f"{c.base}/console/pipelines")
        page.wait_for_selector("body[data-stream-state=open]")
        expect(row_status(page, pid)).to_contain_text(WAITING)
        counts = page.locator("#pipeline-counts")
        expect(counts).to_contain_text("Queued, not started: 1")
        expect(counts).to_contain_text("Succeeded: 3")
        expect(counts).not_to_contain_text("Running")
        page.locator(f"#expand-{pid}").click()
        detail = page.locator(f"#detail-{pid}")
        expect(detail.locator(".pd-live .pipeline-card")).to_contain_text(WAITING)
        expect(page.locator("#f-status")).to_contain_text("Queued")
        # API: the list, its counts and filters, the detail.
        listed = api(server, viewer, "/v1/sync/pipelines")
        mine = next(i for i in listed["items"] if i["pipeline_id"] == pid)
        assert (mine["status"], mine["display_status"]) == ("RUNNING", "QUEUED")
        assert listed["counts_by_display_status"] == {"QUEUED": 1, "SUCCESS": 3}
        assert listed["counts_by_status"] == {"RUNNING": 1, "SUCCESS": 3}
        only = api(server, viewer, "/v1/sync/pipelines", status="QUEUED")
        assert [i["pipeline_id"] for i in only["items"]] == [pid]
        assert api(server, viewer, "/v1/sync/pipelines", status="RUNNING",
                   queued="false")["total"] == 0
        assert api(server, viewer, f"/v1/sync/pipelines/{pid}")["display_status"] == "QUEUED"
        # CLI: the table, --json, the filter and the counts line.
        assert next(r for r in cli("--json") if r["id"] == pid)["display_status"] == "QUEUED"
        table = cli()
        assert "QUEUED" in table and "RUNNING 1 (1 queued, not started)" in table
        assert f"{pid[:8]}: queued, waiting for a worker" in table.splitlines()
        assert [r["id"] for r in cli("--status", "queued", "--json")] == [pid]
        assert cli("--no-queued", "--counts", "--json")["counts_by_display_status"] == {
            "SUCCESS": 3}
        c.shot("queued")
        page.evaluate("window.notReloaded = true")
        lock.__enter__()  # the run will be held after its first chunk
    try:
        # A worker takes it: the row turns Running on its own (stream), with the counts.
        expect(row_status(page, pid)).to_contain_text("Running", timeout=20_000)
        assert started_jobs(pid) >= 1 and shown(pid) == "RUNNING"
        expect(counts).to_contain_text("Running: 1")
        expect(counts).not_to_contain_text("Queued")
        expect(detail.locator(".pd-live .pipeline-card")).to_contain_text("Running")
        assert api(server, viewer, f"/v1/sync/pipelines/{pid}")["display_status"] == "RUNNING"
        assert next(r for r in cli("--json") if r["id"] == pid)["display_status"] == "RUNNING"
        assert cli("--status", "queued", "--json") == []
        c.shot("running")
    finally:
        lock.release()
    assert wait_pipeline(pid) == "SUCCESS"
    expect(row_status(page, pid)).to_contain_text("Succeeded")
    expect(counts).to_contain_text("Succeeded: 4")
    assert shown(pid) == "SUCCESS"
    assert page.evaluate("window.notReloaded") is True


def test_an_aborted_queued_pipeline_is_aborted_never_queued_or_running_again(
        console: Console, tokens: dict[str, str], server: str) -> None:
    seed_equipment(entries_per_type=100, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    page.on("dialog", lambda d: d.accept())
    with no_worker():
        acc = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="t")
        pid = str(acc.pipeline_id)
        page.goto(f"{c.base}/console/pipelines")
        page.wait_for_selector("body[data-stream-state=open]")
        expect(row_status(page, pid)).to_contain_text(WAITING)
        page.locator(f"#expand-{pid}").click()
        detail = page.locator(f"#detail-{pid}")
        detail.get_by_role("button", name="Abort pipeline").click()
        expect(detail).to_contain_text("Aborted 1 active job(s)")
        expect(row_status(page, pid)).to_contain_text("Aborted")
        assert shown(pid) == "ABORTED"
    # The worker comes back and receives the aborted run's messages: they stay no-ops.
    seen = set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        seen.add(shown(pid))
        time.sleep(0.1)
    assert seen == {"ABORTED"}
    assert started_jobs(pid) == 0
    expect(row_status(page, pid)).to_contain_text("Aborted")
    expect(page.locator("#pipeline-counts")).to_contain_text("Aborted: 1")
    expect(page.locator("#pipeline-counts")).not_to_contain_text("Queued")
    assert api(server, tokens["viewer"], f"/v1/sync/pipelines/{pid}")[
        "display_status"] == "ABORTED"
    assert next(r for r in cli("--json") if r["id"] == pid)["display_status"] == "ABORTED"
