"""A pipeline triggered while the broker is down says it waits for the broker, not for a worker.

Walking the console on a bad day (the broker down, the workers alive): `carbon recalc` saved
the jobs and left them in the outbox ("the broker is unreachable … the reconciler dispatches
it once the broker is back"). On the data page the type read "not on the broker yet (the
reconciler sends it)", while the pipeline card beside it, the pipelines page and the API
called the same pipeline "⧗ Queued — waiting for a worker": an operator checks the workers,
which are fine; starting another one changes nothing. A RUNNING pipeline none of whose jobs
reached the broker is now shown waiting for the broker (``waiting_for``: "broker";
pipeline_facts.waiting_for), until the reconciler sends it; then it is queued for a worker
or running like any other.

The broker is down for real: the CLI runs as a subprocess whose broker and result backend
are a closed port (the API and the suite's worker keep the session's broker).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from carbon_domain.db.session import session_scope
from carbon_domain.services.reads import pipeline_reads
from tests.console.support import EQUIPMENT, IT, YEAR, seed_equipment, wait_pipeline
from tests.fault.harness import free_port

from .conftest import Console

pytestmark = pytest.mark.integration
CARBON = str(Path(sys.executable).parent / "carbon")
UNSENT = "Queued — not on the broker yet (the reconciler sends it)"
WAITING = "waiting for a worker"


def recalc_while_the_broker_is_down() -> str:
    down = f"redis://127.0.0.1:{free_port()}/0"
    out = subprocess.run([CARBON, "recalc", "equipment", "it", "-y", str(YEAR), "--json"],
                         env={**os.environ, "CELERY_BROKER_URL": down,
                              "CELERY_RESULT_BACKEND": down}, capture_output=True,
                         text=True, timeout=120)
    assert "broker is unreachable" in out.stderr, out.stderr
    with session_scope() as s:
        (v,) = pipeline_reads.listing(s, pipeline_reads.PipelineFilters(status="RUNNING")).items
        return str(v.pipeline_id)


def test_a_pipeline_left_in_the_outbox_waits_for_the_broker_not_a_worker(
        console: Console, tokens: dict[str, str], server: str) -> None:
    seed_equipment(entries_per_type=100, types=(IT,))
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    pid = recalc_while_the_broker_is_down()
    c.data()

    # The data page: the type and the pipeline card beside it say the same thing.
    card = page.locator(f'#live-{EQUIPMENT} [data-pipeline="{pid}"] .pipeline-card')
    expect(card).to_contain_text(UNSENT)
    expect(card).not_to_contain_text(WAITING)
    expect(page.locator(f"#module-{EQUIPMENT}")).to_contain_text(
        "not on the broker yet (the reconciler sends it)")
    # The pipelines page: the row, and the expanded detail.
    page.goto(f"{c.base}/console/pipelines")
    page.wait_for_selector("body[data-stream-state=open]")
    row = page.locator(f"#row-{pid} [data-cell='status']")
    expect(row).to_contain_text(UNSENT)
    expect(row).not_to_contain_text(WAITING)
    # Its count and the status filter: queued, not a claim of what every queued one awaits.
    counts = page.locator("#pipeline-counts")
    expect(counts).to_contain_text("Queued, not started: 1")
    expect(counts).not_to_contain_text(WAITING)
    expect(page.locator("select[name=status]")).not_to_contain_text(WAITING)
    page.locator(f"#expand-{pid}").click()
    expect(page.locator(f"#detail-{pid} .pd-live .pipeline-card")).to_contain_text(UNSENT)
    # The API: still QUEUED (RUNNING, nothing started), and what it waits for.
    r = httpx.get(f"{server}/v1/sync/pipelines/{pid}", timeout=30,
                  headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert (r.json()["display_status"], r.json()["waiting_for"]) == ("QUEUED", "broker")
    c.shot("unsent")

    # The reconciler sends it (the session's broker is up): it runs and succeeds.
    from carbon_tasks.reconcile import reconcile
    assert reconcile.apply().get(propagate=True)["outbox"] >= 1
    assert wait_pipeline(pid) == "SUCCESS"
    expect(row).to_contain_text("Succeeded", timeout=20_000)
    r = httpx.get(f"{server}/v1/sync/pipelines/{pid}", timeout=30,
                  headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert (r.json()["display_status"], r.json()["waiting_for"]) == ("SUCCESS", None)
