"""One display state per (module, type, year), the same on the console, the API and the CLI:
a formula version bump, a failed run, an aborted run, and every combination of job states
(a property test), plus the monitoring read (stale-stats) on HTTP and the CLI.

Real uploads and recalculations run on the suite's worker; the property test and the failed
run write job rows the way the job service does (a history the pipeline does not produce on
demand).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import RecalcChunk
from carbon_domain.db.session import session_scope
from carbon_domain.handlers.versions import formula_versions
from carbon_domain.services import jobs as job_service
from carbon_domain.services.status import stale_types
from carbon_tasks import operations as ops
from tests.integration.helpers import module_stats

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
runner = CliRunner()
STATES = {"up_to_date", "needs_recalculation", "recalculating", "failed", "incomplete"}


# -- the three surfaces ----------------------------------------------------------------------

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

def _add_job(job_type: JobType, det: int | None, *, state: str = "FINISHED",
             result: str | None = "SUCCESS", by: str = "bob", message: str | None = None,
             meta: dict[str, Any] | None = None, pipeline: bool = False) -> int:
    target = {JobType.factor_ingest: TargetType.FACTORS,
              JobType.aggregation: TargetType.STATISTICS}.get(job_type, TargetType.DATA_ENTRIES)
    with session_scope() as s:
        pid = job_service.create_pipeline(s, kind=job_type, module_type_id=EQUIPMENT,
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


def _chunks(job_id: int, total: int, done: int) -> None:
    with session_scope() as s:
        s.add_all(RecalcChunk(job_id=job_id, chunk_no=n, lo_id=n, hi_id=n, planned_entries=1,
                              done=n < done) for n in range(total))


def test_a_failed_run_shows_failed_and_retry_never_up_to_date(
        fresh: dict[str, str], http: httpx.Client) -> None:
    failed = _add_job(JobType.emission_recalc, IT, result="ERROR",
                      message="ERROR: 1 of 2 chunks of it did not complete")
    _chunks(failed, total=2, done=1)
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
    assert "up to date" not in row
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


def _chunks_done(job_id: int) -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).where(RecalcChunk.job_id == job_id,
                                                       RecalcChunk.done.is_(True))) or 0)


def test_an_aborted_run_says_who_where_and_what_is_left(
        server: str, tokens: dict[str, str], http: httpx.Client) -> None:
    seed_equipment(entries_per_type=150)  # 4 chunks per type
    sign_in(http, tokens["operator"])
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
    assert it["failed_run"]["partly_rewritten"]
    assert it["state_detail"] == (f"recalculation #{acc.job_id} aborted by alice at chunk 4/4 "
                                  "— numbers partly rewritten")
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
    factor_job = _add_job(JobType.factor_ingest, IT, by="carol")
    with session_scope() as s:  # the upload finished two hours ago
        s.execute(text("UPDATE data_ingestion_jobs SET finished_at = now() - interval '2 hours'"
                       " WHERE id = :i"), {"i": factor_job})
    later = _add_job(JobType.factor_ingest, IT, by="dave")  # does not restart the clock
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


# -- every combination of job states ---------------------------------------------------------

EVENTS = ("factor", "data", "recalc_ok", "recalc_warning", "recalc_error", "recalc_aborted",
          "recalc_error_partial")


def _expected(events: list[str], active: str | None, aggregating: bool, bumped: bool
              ) -> tuple[str, str, bool]:
    """The oracle: (type state, module state, needs recalculation) from the scenario,
    independently of the code."""
    inputs = [i for i, e in enumerate(events) if e in ("factor", "data")]
    recalcs = [(i, e) for i, e in enumerate(events) if e.startswith("recalc")]
    good = [i for i, e in recalcs if e in ("recalc_ok", "recalc_warning")]
    last_failed = bool(recalcs) and recalcs[-1][1] not in ("recalc_ok", "recalc_warning")
    needs = (not good or max(inputs) > max(good) or bumped
             or (last_failed and recalcs[-1][1] == "recalc_error_partial"))
    if active:
        state = "recalculating"
    elif last_failed:
        state = "failed"
    elif needs:
        state = "needs_recalculation"
    else:
        state = "up_to_date"
    module = "recalculating" if (aggregating or active) else state
    return state, module, needs


@pytest.fixture
def empty_year(server: str, tokens: dict[str, str], http: httpx.Client) -> dict[str, str]:
    assert run(ops.start_upload("units", b"institutional_code,institutional_id,name,level,"
                                b"parent_institutional_code\nLAB-A,UA,Lab A,4,ENAC\n",
                                year=YEAR, created_by="seed")) == "SUCCESS"
    sign_in(http, tokens["operator"])
    return tokens


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.sampled_from(["factor", "data"]),
       rest=st.lists(st.sampled_from(EVENTS), max_size=4),
       active=st.sampled_from([None, "QUEUED", "RUNNING"]),
       aggregating=st.booleans(), bumped=st.booleans())
def test_every_combination_has_one_state_and_the_surfaces_agree(
        empty_year: dict[str, str], http: httpx.Client, monkeypatch: pytest.MonkeyPatch,
        first: str, rest: list[str], active: str | None, aggregating: bool, bumped: bool
) -> None:
    with session_scope() as s:
        s.execute(text("DELETE FROM data_ingestion_jobs WHERE module_type_id = :m"),
                  {"m": EQUIPMENT})
    monkeypatch.setitem(formula_versions, IT, "2026.12-1" if bumped else "2026.11-1")
    events = [first, *rest]
    for e in events:
        if e in ("factor", "data"):
            _add_job(JobType.factor_ingest if e == "factor" else JobType.csv_ingest, IT)
        else:
            result = {"recalc_ok": "SUCCESS", "recalc_warning": "WARNING"}.get(e, "ERROR")
            meta = {"aborted": True, "aborted_by": "alice"} if e == "recalc_aborted" else {}
            job_id = _add_job(JobType.emission_recalc, IT, result=result, meta=meta)
            if e == "recalc_error_partial":
                _chunks(job_id, total=3, done=1)
    if active:
        _add_job(JobType.emission_recalc, IT, state=active, result=None, pipeline=True)
    if aggregating:
        _add_job(JobType.aggregation, None, state="RUNNING", result=None)
    m = agree(http, empty_year["viewer"])
    it = type_of([m], IT)
    assert (it["state"], m["state"], it["needs_recalculation"]) == _expected(
        events, active, aggregating, bumped), (events, active, aggregating, bumped, it)
    # Exactly one state, and no contradiction beside it.
    _, card, html = card_states(http)
    row = html.split(f'id="type-{IT}"')[1].split("</tr>")[0]
    assert card[IT] == it["state"]
    if it["state"] != "up_to_date":
        assert "up to date" not in row
    assert (it["action"] == "Retry") == (it["state"] == "failed")
    if it["state"] in ("needs_recalculation", "failed"):
        assert it["reasons"]
    if it["state"] == "failed":
        assert it["state_detail"] == it["failed_run"]["text"]


# -- the pipeline card: chip and per-type line from one read --------------------------------

def test_the_chunk_chip_and_the_type_line_never_disagree(db: str) -> None:
    """The job row's progress lags the chunk rows (it was read before the last chunk
    committed, or a heartbeat was skipped): the card's per-type line follows the chunk rows
    read with the chip, so "chunks 2/2" never stands beside "50/100 running"."""
    from carbon_api.console import pipelines as console_pipelines
    from carbon_domain.db.models import Pipeline

    job_id = _add_job(JobType.emission_recalc, IT, state="RUNNING", result=None,
                      pipeline=True)
    with session_scope() as s:
        s.execute(text("UPDATE data_ingestion_jobs SET progress_done = 50,"
                       " progress_total = 100 WHERE id = :i"), {"i": job_id})
        s.add_all(RecalcChunk(job_id=job_id, chunk_no=n, lo_id=n, hi_id=n,
                              planned_entries=50, done=True, entries=50) for n in range(2))
    with session_scope() as s:
        pid = s.scalar(select(Job.pipeline_id).where(Job.id == job_id))
        view = console_pipelines.summary(s, s.get(Pipeline, pid))
    (phase,) = [p for p in view["phases"] if p["name"] == "recalculation"]
    (line,) = view["types"]
    assert (phase["text"], line["done"], line["total"]) == ("chunks 2/2", 100, 100)
    assert view["progress_text"] == "chunks 2/2"
