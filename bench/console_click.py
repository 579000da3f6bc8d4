"""The console's click on "Recalculate" until its card shows SUCCESS (issue 23, target 4):
part of bench/operator_wait.py, key ``console_click_to_success_s``. Playwright drives Debian
chromium (`apt-get install -y chromium`) against the real app served in this process."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bench import services
from bench.operator_wait import DET, MODULE, _spread, _times


@contextmanager
def _api_server() -> Iterator[str]:
    """The real app on uvicorn in a thread of this process (as the browser tests run it)."""
    import socket

    import uvicorn

    from carbon_api.app import app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# Records, in the page, when the type's button is clicked and when a pipeline card in the
# module's live area first carries SUCCESS (a MutationObserver: no polling of ours).
_OBSERVE = """(live) => {
  window.benchSeen = {};
  new MutationObserver(() => {
    document.querySelectorAll('#' + live + ' .pipeline-slot[data-pipeline]').forEach((s) => {
      const id = s.getAttribute('data-pipeline'), st = s.getAttribute('data-status');
      if (st && !window.benchSeen[id + st]) window.benchSeen[id + st] = Date.now();
    });
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def console_click(name: str, year: int, runs: int) -> dict[str, Any]:
    """Sign in, open the data page of the year, click the type's "Recalculate" and wait for
    its pipeline card to show SUCCESS; the in-page clock times the click and the card."""
    import shutil

    from playwright.sync_api import sync_playwright

    from carbon_domain.db.session import session_scope
    from carbon_domain.services.access.tokens import create_token

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "chromium not found (apt-get install -y chromium)"}
    with session_scope() as s:
        token = create_token(s, f"bench-{os.getpid()}", "operator")
    module, det = MODULE[name], DET[name]
    rows = []
    with _api_server() as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context().new_page()
        page.set_default_timeout(120_000)
        page.goto(base + "/login")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/data/*")
        for _ in range(runs):
            # Past the stream's look-back (SLACK_SECONDS): pipelines that just ended would
            # refresh the module card right after the page loads, under the test's click.
            _wait_idle()
            services.vacuum_analyze_touched(os.environ["CARBON_DATABASE_URL"])
            time.sleep(2.5)
            page.goto(f"{base}/console/data/{year}")
            page.wait_for_selector("body[data-stream-state=open]")
            page.evaluate(_OBSERVE, f"live-{module}")
            # An up-to-date module renders its types list closed: open it, as the operator does.
            page.locator(f"#module-{module}-status details.types").evaluate("d => d.open = true")
            button = page.locator(f"#type-{det}").get_by_role("button", name="Recalculate")
            clicked = button.evaluate("b => { const t = Date.now(); b.click(); return t; }")
            slot = page.locator(f"#live-{module} .pipeline-slot[data-pipeline]").first
            pid = slot.get_attribute("data-pipeline")
            page.wait_for_selector(f'#live-{module} .pipeline-slot[data-pipeline="{pid}"]'
                                   '[data-status="SUCCESS"]')
            shown = page.evaluate("(k) => window.benchSeen[k]", f"{pid}SUCCESS")
            t = _pipeline_times(str(pid))
            shown_at = datetime.fromtimestamp(shown / 1000, UTC)
            rows.append({
                "click_to_success_s": (shown - clicked) / 1000,
                "job_s": (t["finished_at"] - t["started_at"]).total_seconds(),
                "click_to_rows_s": (t["created_at"] - datetime.fromtimestamp(
                    clicked / 1000, UTC)).total_seconds(),
                # the page's own latency: the pipeline ended → its card says SUCCESS
                "page_latency_s": (shown_at - t["p_finished"]).total_seconds(),
                "pipeline_s": (t["p_finished"] - t["created_at"]).total_seconds()})
        browser.close()
    med = _spread(rows, ("click_to_success_s",))
    med["vs_job"] = round(statistics.median(r["click_to_success_s"] / r["job_s"]
                                            for r in rows), 2)
    med["runs"] = rows
    return med


def _pipeline_times(pipeline_id: str) -> dict[str, datetime]:
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope

    with session_scope() as s:
        job_id = s.execute(text(
            "SELECT id FROM data_ingestion_jobs WHERE pipeline_id = :p AND job_type ="
            " 'emission_recalc' ORDER BY id LIMIT 1"), {"p": pipeline_id}).scalar_one()
    return _times(job_id, pipeline_id)


def _wait_idle(timeout: float = 120) -> None:
    """No job left running (the module's aggregation ends after the pipeline's card)."""
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as s:
            if not s.execute(text("SELECT 1 FROM data_ingestion_jobs WHERE state <>"
                                  " 'FINISHED' LIMIT 1")).first():
                return
        time.sleep(0.1)
