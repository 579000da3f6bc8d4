"""One display state per (module, type, year), the same on the console, the API and the CLI:
a formula version bump, a failed run, an aborted run (every combination of job states:
test_display_state_property.py), the monitoring read (stale-stats) on HTTP and the CLI, and
the pipeline card's chunk chip beside its per-type line.

Real uploads and recalculations run on the suite's worker; the failed run writes job rows
the way the job service does (a history the pipeline does not produce on demand).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import func, select, text

from carbon_api.cli import app as cli_app
from carbon_domain.db.enums import JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import RecalcChunk
from carbon_domain.db.session import session_scope
from carbon_domain.formula_versions import formula_versions
from carbon_domain.services.jobs import jobs
from carbon_domain.services.reads.status import retry_types, stale_types
from carbon_tasks import operations as ops
from tests.integration.helpers import emissions, module_stats

from .display_support import add_chunks, add_job, agree, card_states, runner, type_of
from .support import (
    EQUIPMENT,
    IT,
    SCIENTIFIC,
    YEAR,
    EntryLock,
    last_entry_id,
    run,
    seed_equipment,
    sign_in,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh(server: str, tokens: dict[str, str], http: httpx.Client) -> dict[str, str]:
    """Scientific and IT entries, recalculated (up to date), an operator signed in."""
    seed_equipment(entries_per_type=20)
    sign_in(http, tokens["operator"])
    return tokens


# -- formula version ------------------------------------------------------------------------

def test_a_formula_bump_makes_only_that_type_stale_and_its_next_run_full(
        fresh: dict[str, str], http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    m = agree(http, fresh["viewer"])
    assert {t["data_entry_type_id"]: t["state"] for t in m["data_entry_types"]} == {
        SCIENTIFIC: "up_to_date", IT: "up_to_date"}
    assert module_stats("LAB-A", EQUIPMENT, YEAR)["formula_version"] == {
        "it": "2026.11-1", "scientific": "2026.11-1"}

    monkeypatch.setitem(formula_versions, IT, "2026.12-1")  # a deploy changing one formula
    m = agree(http, fresh["viewer"])
    it, sci = type_of([m], IT), type_of([m], SCIENTIFIC)
    assert (it["state"], it["reasons"]) == (
        "needs_recalculation", ["formula for IT changed (2026.11-1 → 2026.12-1)"])
    assert it["needs_recalculation"] and it["stale_reason"] == it["reasons"][0]
    assert (it["formula_version"], it["rows_formula_version"]) == ("2026.12-1", "2026.11-1")
    assert sci["state"] == "up_to_date" and not sci["needs_recalculation"]
    assert m["state"] == "needs_recalculation"
    _, _, html = card_states(http)
    assert "formula for IT changed (2026.11-1 → 2026.12-1)" in html
    with session_scope() as s:
        assert stale_types(s, EQUIPMENT, YEAR) == [IT]

    acc = ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, only_stale=True,
                                           created_by="t")
    assert run(acc) == "SUCCESS"
    with session_scope() as s:
        (job,) = s.scalars(select(Job).where(Job.pipeline_id == acc.pipeline_id,
                                             Job.job_type == JobType.emission_recalc))
        scope = job.meta["config"]["scope"]
        assert job.data_entry_type_id == IT
        assert job.meta["recalculation"]["formula_version"] == "2026.12-1"
    assert (scope["incremental"], scope["reason"]) == (
        False, "formula for IT changed (2026.11-1 → 2026.12-1)")
    m = agree(http, fresh["viewer"])
    assert {t["state"] for t in m["data_entry_types"]} == {"up_to_date"}
    assert module_stats("LAB-A", EQUIPMENT, YEAR)["formula_version"] == {
        "it": "2026.12-1", "scientific": "2026.11-1"}


# -- failed and aborted runs ----------------------------------------------------------------

def test_a_failed_run_shows_failed_and_retry_never_up_to_date(
        fresh: dict[str, str], http: httpx.Client) -> None:
    failed = add_job(JobType.emission_recalc, IT, result="ERROR",
                      message="ERROR: 1 of 2 chunks of it did not complete")
    add_chunks(failed, total=2, done=1)
    m = agree(http, fresh["viewer"])
    it = type_of([m], IT)
    text_ = f"recalculation #{failed} failed at chunk 2/2 — numbers partly rewritten"
    assert (it["state"], it["action"], it["state_detail"]) == ("failed", "Retry", text_)
    assert it["reasons"] == [text_] and it["needs_recalculation"]
    assert it["failed_run"]["job_id"] == failed and not it["failed_run"]["aborted"]
    assert (m["state"], m["action"]) == ("failed", "Retry")
    _, _, html = card_states(http)
    row = html.split(f'id="type-{IT}"')[1].split("</tr>")[0]
    assert "✗ ERROR" in row and "last run failed" in row and "Retry" in row
    assert "✓ up to date" not in row  # (its export link says "not up to date")
    assert "Retry Equipment…" in html
    with session_scope() as s:
        assert stale_types(s, EQUIPMENT, YEAR) == [IT]  # "only stale" retries it
    r = http.get("/v1/health/stale-stats", params={"older_than": 3600},
                 headers={"Authorization": f"Bearer {fresh['viewer']}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stale"] == []
    (f,) = body["failed"]
    assert (f["data_entry_type_id"], f["state"], f["last_failed_job_id"]) == (IT, "failed",
                                                                              failed)
    # The retry: only the failed type runs, and it is up to date again.
    acc = ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, only_stale=True,
                                           created_by="t")
    assert run(acc) == "SUCCESS"
    m = agree(http, fresh["viewer"])
    assert type_of([m], IT)["state"] == "up_to_date" and m["action"] == "Recalculate"


def test_a_run_that_failed_before_rewriting_anything_says_how_to_retry_it(
        fresh: dict[str, str], http: httpx.Client) -> None:
    """A run aborted before any chunk finished left the numbers intact: the type shows
    failed with a Retry, and "only stale" leaves it. `carbon recalc equipment` (only stale)
    answered "No data entry types require recalculation for this module" and nothing else,
    beside a status that said "✗ failed / Retry"; it now names the type and how to retry."""
    failed = add_job(JobType.emission_recalc, IT, result="ERROR", message="ERROR: aborted")
    add_chunks(failed, total=2, done=0)
    it = type_of([agree(http, fresh["viewer"])], IT)
    assert (it["state"], it["action"], it["needs_recalculation"]) == ("failed", "Retry", False)
    with session_scope() as s:
        assert stale_types(s, EQUIPMENT, YEAR) == []
        assert retry_types(s, EQUIPMENT, YEAR) == [IT]
    with pytest.raises(ops.NothingToRecalculate) as refused:
        ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, only_stale=True,
                                         created_by="t")
    assert str(refused.value) == (
        "No data entry types require recalculation for this module; the last run of 'it'"
        " failed or was aborted before rewriting any number: recalculate that type, or all"
        " types of the module")
    out = runner.invoke(cli_app, ["recalc", "equipment", "-y", str(YEAR)])
    assert out.exit_code == 1 and "the last run of 'it' failed" in " ".join(out.stderr.split())


def test_a_recalculation_the_broker_never_got_says_so_not_waiting_for_a_worker(
        fresh: dict[str, str], http: httpx.Client) -> None:
    """A job row committed while the broker was down waits in the outbox (NOT_STARTED) for
    the reconciler. The status said "waiting for a worker" while workers were up and idle,
    sending the operator to look at the wrong thing."""
    with session_scope() as s:  # committed, never dispatched
        job_id = jobs.request_recalc(s, pipeline_id=None, module_type_id=EQUIPMENT,
                                     data_entry_type_id=IT, year=YEAR, created_by="t").job_id
    it = type_of([agree(http, fresh["viewer"])], IT)
    assert (it["state"], it["state_detail"]) == (
        "recalculating", "not on the broker yet (the reconciler sends it)")
    with session_scope() as s:
        s.get(Job, job_id).state = "QUEUED"  # on the broker now
    it = type_of([agree(http, fresh["viewer"])], IT)
    assert (it["state"], it["state_detail"]) == ("recalculating", "waiting for a worker")
    with session_scope() as s:
        job = s.get(Job, job_id)
        job.state, job.result = "FINISHED", "ERROR"  # nobody will run it


def _chunks_done(job_id: int) -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).where(RecalcChunk.job_id == job_id,
                                                       RecalcChunk.done.is_(True))) or 0)


def test_an_aborted_run_says_who_where_and_what_is_left(
        server: str, tokens: dict[str, str], http: httpx.Client) -> None:
    seed_equipment(entries_per_type=150)  # 4 chunks per type
    sign_in(http, tokens["operator"])
    before = emissions(IT)
    with EntryLock(last_entry_id(IT)) as lock:  # the last chunk waits
        acc = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR,
                                        created_by="alice")
        deadline = time.monotonic() + 30
        while _chunks_done(acc.job_id) < 3:
            assert time.monotonic() < deadline, "the first chunks did not finish"
            time.sleep(0.1)
        m = agree(http, tokens["viewer"])
        assert type_of([m], IT)["state"] == "recalculating"
        assert m["state"] == "recalculating"
        _, _, html = card_states(http)
        assert f'href="/console/pipelines?focus={acc.pipeline_id}"' in html  # links to it
        dialog = http.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}/recalculate").text
        assert "All types are up to date" not in dialog
        assert "1 type is being recalculated; nothing else needs it" in dialog
        ops.abort_pipeline(acc.pipeline_id, by="alice")
        lock.release()
    m = agree(http, tokens["viewer"])
    it = type_of([m], IT)
    assert it["state"] == "failed" and it["action"] == "Retry"
    assert it["failed_run"]["aborted"] and it["failed_run"]["aborted_by"] == "alice"
    # A full recalculation writes a stage swapped in at its finish; aborted before it, the
    # stage is dropped and not one live row changed. It said "numbers partly rewritten" (and
    # made the type stale) after three of its four chunks had written into the stage.
    assert emissions(IT) == before
    assert not it["failed_run"]["partly_rewritten"]
    assert it["state_detail"] == (f"recalculation #{acc.job_id} aborted by alice at chunk 4/4 "
                                  "— no numbers rewritten")
    assert type_of([m], SCIENTIFIC)["state"] == "up_to_date"
    out = runner.invoke(cli_app, ["status", "-y", str(YEAR)])
    assert out.exit_code == 0 and "aborted by alice at chunk 4/4" in " ".join(out.stdout.split())


# -- monitoring ------------------------------------------------------------------------------

def test_stale_stats_threshold_since_and_cli_agree(fresh: dict[str, str],
                                                   http: httpx.Client) -> None:
    viewer = {"Authorization": f"Bearer {fresh['viewer']}"}
    assert http.get("/v1/health/stale-stats").status_code == 401
    assert http.get("/v1/health/stale-stats", params={"older_than": -1},
                    headers=viewer).status_code == 422
    body = http.get("/v1/health/stale-stats", headers=viewer).json()
    assert (body["stale"], body["failed"]) == ([], [])
    factor_job = add_job(JobType.factor_ingest, IT, by="carol")
    with session_scope() as s:  # the upload finished two hours ago
        s.execute(text("UPDATE data_ingestion_jobs SET finished_at = now() - interval '2 hours'"
                       " WHERE id = :i"), {"i": factor_job})
    later = add_job(JobType.factor_ingest, IT, by="dave")  # does not restart the clock
    (row,) = http.get("/v1/health/stale-stats", params={"older_than": 3600},
                      headers=viewer).json()["stale"]
    assert (row["year"], row["module_type_id"], row["data_entry_type_id"]) == (YEAR, 4, IT)
    assert row["state"] == "needs_recalculation" and 7100 < row["stale_seconds"] < 7400
    assert row["reasons"][0].startswith(f"factor upload #{later} of ")
    assert http.get("/v1/health/stale-stats", params={"older_than": 3 * 3600},
                    headers=viewer).json()["stale"] == []
    result = runner.invoke(cli_app, ["status", "--stale-only", "--older-than", "3600",
                                     "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    cli = json.loads(result.stdout)
    api = http.get("/v1/health/stale-stats", params={"older_than": 3600}, headers=viewer).json()
    for report in (cli, api):
        for r in report["stale"]:
            r.pop("stale_seconds")
            r["since"] = r["since"][:19]
        report.pop("checked_at")
    assert cli == api


# -- the pipeline card: chip and per-type line from one read --------------------------------

def test_the_chunk_chip_and_the_type_line_never_disagree(db: str) -> None:
    """The job row's progress lags the chunk rows (it was read before the last chunk
    committed, or a heartbeat was skipped): the card's per-type line follows the chunk rows
    read with the chip, so "chunks 2/2" never stands beside "50/100 running"."""
    from carbon_api.console import pipelines as console_pipelines
    from carbon_domain.services.reads import pipeline_reads

    job_id = add_job(JobType.emission_recalc, IT, state="RUNNING", result=None,
                      pipeline=True)
    with session_scope() as s:
        s.execute(text("UPDATE data_ingestion_jobs SET progress_done = 50,"
                       " progress_total = 100 WHERE id = :i"), {"i": job_id})
        s.add_all(RecalcChunk(job_id=job_id, chunk_no=n, lo_id=n, hi_id=n,
                              planned_entries=50, done=True, entries=50) for n in range(2))
    with session_scope() as s:
        pid = s.scalar(select(Job.pipeline_id).where(Job.id == job_id))
        found = pipeline_reads.view(s, pid)
        assert found is not None
        view = console_pipelines.summary(found)
    (phase,) = [p for p in view["phases"] if p["name"] == "recalculation"]
    (line,) = view["types"]
    assert (phase["text"], line["done"], line["total"]) == ("chunks 2/2", 100, 100)
    assert view["progress_text"] == "chunks 2/2"


def test_a_running_types_row_shows_no_count_the_stream_leaves_behind(
        fresh: dict[str, str], http: httpx.Client) -> None:
    """The card is re-read when a phase or a type starts or ends, not for each chunk: a
    running type's status cell said "0/1,537 entries" for the whole run while its pipeline
    card beside it counted 875/1537. The count is shown where the stream keeps it live (the
    row's progress link, then the pipeline's own chip), not frozen in the status cell."""
    import re

    job_id = add_job(JobType.emission_recalc, IT, state="RUNNING", result=None, pipeline=True)
    try:
        with session_scope() as s:
            s.execute(text("UPDATE data_ingestion_jobs SET progress_done = 0,"
                           " progress_total = 1537 WHERE id = :i"), {"i": job_id})
        it = type_of([agree(http, fresh["viewer"])], IT)
        assert (it["state"], it["state_detail"]) == ("recalculating", "0/1,537 entries")
        _, _, html = card_states(http)
        (row,) = re.findall(rf'<tr id="type-{IT}" .*?</tr>', html, re.S)
        (status_cell,) = re.findall(r"<td>\s*<span class=\"badge.*?</td>", row, re.S)
        assert "0/1,537 entries" not in status_cell, status_cell
        (live,) = re.findall(r'<span data-progress-of="[^"]+">([^<]*)</span>', row)
        assert live == "0/1,537 entries"  # until the stream's first event replaces it
    finally:
        with session_scope() as s:
            job = s.get(Job, job_id)
            job.state, job.result = "FINISHED", "ERROR"


def test_an_aborted_runs_chunks_are_not_called_failed(db: str) -> None:
    """After an abort the card read "recalculation ✗ chunks 38/89 · 51 failed": those 51
    chunks never ran (their tasks were revoked); none failed. They are counted apart."""
    from carbon_api.console import pipelines as console_pipelines
    from carbon_domain.services.jobs import pipelines as pipeline_service
    from carbon_domain.services.reads import pipeline_reads

    job_id = add_job(JobType.emission_recalc, IT, state="RUNNING", result=None, pipeline=True)
    add_chunks(job_id, total=5, done=2)
    with session_scope() as s:
        pid = s.scalar(select(Job.pipeline_id).where(Job.id == job_id))
        pipeline_service.abort_pipeline(s, pid, "walker")
    with session_scope() as s:
        found = pipeline_reads.view(s, pid)
        assert found is not None
        (phase,) = [p for p in found.phases if p.name == "recalculation"]
        view = console_pipelines.summary(found)
    assert phase.label == "chunks 2/5 · 3 not run (aborted)"
    assert (phase.chunks_done, phase.chunks_failed, phase.chunks_aborted) == (2, 0, 3)
    (chip,) = [p for p in view["phases"] if p["name"] == "recalculation"]
    assert chip["text"] == "chunks 2/5 · 3 not run (aborted)"
