"""A worker SIGKILLed holding a chunk: the surfaces say nothing moves, until the reconciler heals.

Walking the console while a worker was killed in the middle of a module recalculation (a new
worker started, the broker's visibility timeout the default hour): the new worker ran every
chunk still queued, the dead worker's chunks stayed unacked, and for the 30 minutes before
the reconciler re-plans (``CARBON_STALE_JOB_SECONDS``) every surface said "⟳ Running ·
chunks 16/18" — the pipelines page and the pipeline's details, the data page's type rows
("⟳ recalculating 1,000/1,200 entries"), ``carbon status``, the API — with nothing saying
that nothing ran. Now a RUNNING pipeline none of whose jobs moved for
``CARBON_NO_PROGRESS_SECONDS`` (2 min by default; 2 s here) says "no progress for …
(since …): its work waits behind other work, or was lost with a worker that died; … the
reconciler re-plans it at HH:MM UTC", on every surface, from the one rule
(``pipeline_facts.quiet``), and stops saying it once it moves again.

Real processes (tests/fault/harness.py): two ``carbon worker`` subprocesses, a chunk held
mid-write by a row lock, SIGKILL of the first worker's process group, the reconciler's task.
The console is read by Chromium (the browser suite's fixture) on the real app.
"""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import expect
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import create_token
from tests.browser.conftest import ARGS, chromium  # noqa: F401 - the fixture
from tests.console.support import live_server
from tests.fault import harness
from tests.fault.harness import EntryLock, blocked_writers, prepare, trigger, wait_for
from tests.integration.helpers import wait_pipeline

pytestmark = [pytest.mark.fault, pytest.mark.integration,
              # A chunk outlives its killed worker only on Redis (unacked until the
              # visibility timeout); RabbitMQ requeues it the moment the worker's connection
              # drops, and the new worker runs it (CI's RabbitMQ pass: 18 of 18 chunks done).
              pytest.mark.skipif(harness.BROKER_KIND != "redis",
                                 reason="a Redis broker scenario")]
DET = 11
SILENT = "no progress for"
assert ARGS


def test_a_chunk_lost_with_its_worker_says_nothing_moves(procs, settings, chromium  # noqa: F811
                                                         ) -> None:  # type: ignore[no-untyped-def]
    settings(no_progress_seconds=2.0)
    w, _ = prepare(procs, CARBON_VISIBILITY_TIMEOUT="600")
    with EntryLock(harness.entry_in_chunk(DET, 1)):
        pid = trigger()
        wait_for(blocked_writers, 30, "a chunk of type 11 blocked mid-write")
        killed = [p.pid for p in w.processes()]
        w.kill()
        wait_for(lambda: all(harness.dead(p) for p in killed), 5, "the worker to be dead")
    before = harness.chunks_done(pid)
    procs.worker(CARBON_VISIBILITY_TIMEOUT="600")
    # The new worker runs what was still queued; the dead worker's chunks stay unacked.
    wait_for(lambda: harness.chunks_done(pid) > before, 30, "the new worker to run a chunk")
    wait_for(lambda: _settled(pid), 60, "the queued chunks to be run", interval=0.5)
    total = harness.sql("SELECT count(*) FROM recalc_chunks c JOIN data_ingestion_jobs j ON"
                        " j.id = c.job_id WHERE j.pipeline_id = CAST(:p AS uuid)", p=pid)[0][0]
    assert harness.chunks_done(pid) < total, "no chunk was lost with the worker"
    assert harness.sql("SELECT status FROM pipelines WHERE id = CAST(:p AS uuid)",
                       p=pid) == [("RUNNING",)]

    with session_scope() as s:
        token = create_token(s, "ops-silence", "operator")
    with live_server() as base:
        # The API: the pipeline, and the type's status.
        auth = {"Authorization": f"Bearer {token}"}
        detail = httpx.get(f"{base}/v1/sync/pipelines/{pid}", headers=auth, timeout=30).json()
        assert detail["status"] == "RUNNING" and detail["silence"] is not None, (
            detail, harness.sql("SELECT id, state, started_at, heartbeat_at, finished_at, now()"
                                " FROM data_ingestion_jobs WHERE pipeline_id = CAST(:p AS uuid)",
                                p=pid))
        assert detail["silence"]["text"].startswith(SILENT)
        status = httpx.get(f"{base}/v1/sync/recalculation-status", params={"year": harness.YEAR},
                           headers=auth, timeout=30).json()
        it = next(t for m in status for t in m["data_entry_types"]
                  if t["data_entry_type_id"] == DET)
        assert it["state"] == "recalculating" and SILENT in (it["state_detail"] or ""), it
        # `carbon status`.
        out = CliRunner().invoke(cli_app, ["status", "-y", str(harness.YEAR)],
                                 env={"COLUMNS": "200"})
        assert out.exit_code == 0 and SILENT in out.stdout, out.stdout
        # `carbon pipelines`: its line under the table (it said RUNNING alone).
        out = CliRunner().invoke(cli_app, ["pipelines"], env={"COLUMNS": "200"})
        assert out.exit_code == 0 and f"{pid[:8]}: {SILENT}" in out.stdout, out.stdout
        listed = CliRunner().invoke(cli_app, ["pipelines", "--json"], env={"COLUMNS": "200"})
        row = next(r for r in json.loads(listed.stdout) if r["id"] == pid)
        assert row["silence"].startswith(SILENT), row
        # The console, in a browser: the pipelines page's row and card, the data page.
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.goto(base + "/")
            page.get_by_label("API token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/console/data/*")
            expect(page.locator(f"#module-{harness.EQUIPMENT}")).to_contain_text(SILENT)
            page.goto(f"{base}/console/pipelines")
            page.wait_for_selector("body[data-stream-state=open]")
            row = page.locator(f"#row-{pid} [data-cell='status']")
            expect(row).to_contain_text("Running")
            expect(row).to_contain_text("No progress for")
            page.locator(f"#expand-{pid}").click()
            card = page.locator(f"#detail-{pid} .pd-live .pipeline-card")
            expect(card).to_contain_text("No progress for")
            expect(card).to_contain_text("the reconciler re-plans it at")

            # The reconciler heals it; the page says so on its own (its stream).
            settings(stale_job_seconds=3)
            with harness.reconciler_thread(1.0):
                p = wait_pipeline(pid, timeout=90)
            assert p.status == "SUCCESS"
            expect(row).to_contain_text("Succeeded", timeout=20_000)
            expect(row).not_to_contain_text("No progress")
        finally:
            context.close()
    from carbon_domain.services.reads import pipeline_reads
    with session_scope() as s:
        v = pipeline_reads.view(s, pid)
        assert v is not None and v.silence is None


def _settled(pid: str) -> bool:
    """Nothing moves any more: no job of the pipeline heartbeat during the last 3 s
    (CARBON_NO_PROGRESS_SECONDS: 2 s here)."""
    rows = harness.sql("SELECT max(heartbeat_at) < now() - interval '3 second' FROM"
                       " data_ingestion_jobs WHERE pipeline_id = CAST(:p AS uuid)", p=pid)
    return bool(rows[0][0])
