"""A data entry type with factors but no entry has nothing to recalculate: it is "✓ up to date
(no entries)" on every surface. A type whose entries went after a recalculation (its old
rows are still in the statistics), or whose last run failed, stays flagged until a
recalculation has run.

Before: IT with its factors uploaded and no entry read "⚠ needs recalculation: never
recalculated since factor upload #…" on the console's card, in ``GET
/v1/sync/recalculation-status`` and ``carbon status``, was listed by ``GET
/v1/health/stale-stats``, ``carbon status --stale-only`` and the
``carbon_types_needing_recalculation`` metric, and "only stale" offered it; its dialog then
said there were 0 entries to recalculate. The status decides it once
(``status_facts.Core.empty``: no entry, no emission row, no finished recalculation), so
every surface gives the same answer.

The type is followed through time on the real pipeline (PostgreSQL, the suite's worker):
before any upload, after its factor upload, with its entries loaded, recalculated, after a
revert that emptied it (flagged while its recalculation waits, then failed once aborted),
and recalculated empty.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.display_state import (
    LABEL,
    UP_TO_DATE_NO_ENTRIES,
    DisplayState,
)
from carbon_domain.services.reads.status import stale_types, year_status
from carbon_domain.services.reads.totals_note import totals_note
from carbon_tasks import operations as ops
from carbon_tasks.dispatch import dispatch_jobs
from tests.console.display_support import card_states, cli_status
from tests.console.support import sign_in

from .api_support import Tokens
from .helpers import UNITS_CSV, emissions, jobs_of, module_stats, wait_pipeline
from .test_replaced_entries_status import follow_ups_held
from .test_staleness_landed_inputs import IT_ENTRIES, it_factors, run
from .test_status_console import add_job

pytestmark = pytest.mark.integration
YEAR, EQUIPMENT, IT = 2025, 4, 11
runner = CliRunner()
UP_TO_DATE = LABEL[DisplayState.up_to_date]
FAILED = LABEL[DisplayState.failed]
NEEDS = LABEL[DisplayState.needs_recalculation]


def _service_it() -> Any:
    with session_scope() as s:
        found = [m for m in year_status(s, YEAR) if m.module_type_id == EQUIPMENT]
    if not found:
        return None
    (t,) = [t for t in found[0].data_entry_types if t.data_entry_type_id == IT]
    return t


def _of(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    found = [m for m in rows if m["module_type_id"] == EQUIPMENT]
    if not found:
        return None
    (t,) = [t for t in found[0]["data_entry_types"] if t["data_entry_type_id"] == IT]
    return dict(t)


def _api_rows(api: TestClient, tokens: Tokens) -> list[dict[str, Any]]:
    r = api.get("/v1/sync/recalculation-status", params={"year": YEAR}, headers=tokens.view)
    assert r.status_code == 200, r.text
    return list(r.json())


def _card(api: TestClient, tokens: Tokens) -> tuple[str, str, str, str]:
    """The console's equipment card: (module state, module badge, IT's state, IT's badge)."""
    if api.get(f"/console/data/{YEAR}", follow_redirects=False).status_code != 200:
        sign_in(api, tokens.viewer)
    module, states, html = card_states(api)
    row = html.split(f'<tr id="type-{IT}"', 1)[1].split("</tr>", 1)[0]
    badge = row.split("data-state-badge>", 1)[1].split("<", 1)[0]
    module_badge = html.split("data-module-state=", 1)[1].split(">", 1)[1].split("<", 1)[0]
    return module, module_badge, states[IT], badge


def shown(api: TestClient, tokens: Tokens) -> set[tuple[str, str]]:
    """IT's (state, badge) on the status service, the API, ``carbon status --json`` and the
    console's card: one answer everywhere (the set has one element)."""
    out = {_card(api, tokens)[2:]}
    svc = _service_it()
    api_t, cli_t = _of(_api_rows(api, tokens)), _of(cli_status())
    for t in (api_t, cli_t):
        if t is not None:
            out.add((t["state"], t["state_label"]))
    if svc is not None:
        out.add((svc.state, svc.state_label))
        assert api_t is not None and cli_t is not None
        for t in (api_t, cli_t):
            assert (t["needs_recalculation"], t["stale_reason"], t["reasons"],
                    t["entry_count"]) == (svc.needs_recalculation, svc.stale_reason,
                                          svc.reasons, svc.entry_count)
    return out


def _metric(api: TestClient, tokens: Tokens) -> float:
    r = api.get("/metrics", headers=tokens.view)
    assert r.status_code == 200, r.text
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.name == "carbon_types_needing_recalculation" and s.labels == {
                    "year": str(YEAR)}:
                return float(s.value)
    return 0.0


def monitored(api: TestClient, tokens: Tokens) -> dict[str, Any]:
    """What the monitoring surfaces say of IT: listed as stale / as failed by ``GET
    /v1/health/stale-stats`` and ``carbon status --stale-only --json`` (the same answer),
    the metric's count, and what "only stale" would run."""
    r = api.get("/v1/health/stale-stats", params={"older_than": 0}, headers=tokens.view)
    assert r.status_code == 200, r.text
    cli = runner.invoke(cli_app, ["status", "--stale-only", "--year", str(YEAR), "--json"])
    assert cli.exit_code == 0, (cli.stdout, cli.stderr, cli.exception)
    answers = []
    for report in (r.json(), json.loads(cli.stdout)):
        answers.append({k: [(t["data_entry_type_id"], t["state"]) for t in report[k]
                            if t["year"] == YEAR] for k in ("stale", "failed")})
    assert answers[0] == answers[1], answers
    with session_scope() as s:
        only_stale = stale_types(s, EQUIPMENT, YEAR)
    return {**answers[0], "metric": _metric(api, tokens), "only_stale": only_stale}


NOTHING = {"stale": [], "failed": [], "metric": 0.0, "only_stale": []}


def _entries() -> int:
    with session_scope() as s:
        return int(s.execute(text("SELECT count(*) FROM data_entries WHERE"
                                  " data_entry_type_id = :d AND year = :y"),
                             {"d": IT, "y": YEAR}).scalar_one())


def _wait_kept(kept: list[int]) -> None:
    deadline = time.monotonic() + 30
    while not kept:  # the upload runs on the worker; the recalculation it creates waits
        assert time.monotonic() < deadline, "the upload's recalculation was never created"
        time.sleep(0.05)


def test_an_empty_type_is_up_to_date_until_entries_come_and_flagged_once_emptied(
        api: TestClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    run(ops_units())
    # Before any upload of the module: nothing to say but "no entries".
    assert _service_it() is None and _of(_api_rows(api, tokens)) is None
    assert _card(api, tokens) == ("up_to_date", UP_TO_DATE_NO_ENTRIES, "up_to_date",
                                  UP_TO_DATE_NO_ENTRIES)
    assert monitored(api, tokens) == NOTHING

    # IT's factors, no entry: up to date with no entries, everywhere (before: "⚠ needs
    # recalculation: never recalculated since factor upload #…").
    factors = run(it_factors())
    assert shown(api, tokens) == {("up_to_date", UP_TO_DATE_NO_ENTRIES)}
    t = _service_it()
    assert (t.needs_recalculation, t.stale_reason, t.reasons, t.entry_count,
            t.last_input_job_id, t.live_factor_count) == (False, None, [], 0, factors, 1)
    assert _card(api, tokens)[:2] == ("up_to_date", UP_TO_DATE_NO_ENTRIES)
    with session_scope() as s:
        (m,) = [m for m in year_status(s, YEAR) if m.module_type_id == EQUIPMENT]
    assert (m.state, m.state_label, m.needs_recalculation) == (
        "up_to_date", UP_TO_DATE_NO_ENTRIES, False)
    assert monitored(api, tokens) == NOTHING
    dialog = api.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}/recalculate").text
    assert "All types are up to date." in dialog and "0 of" not in dialog
    assert "never recalculated" not in dialog
    with session_scope() as s:
        assert totals_note(s, YEAR, EQUIPMENT) is None

    # Its entries land; their recalculation waits: entries never computed need it.
    with follow_ups_held(monkeypatch) as kept:
        upload = ops_entries()
        _wait_kept(kept)
    t = _service_it()
    assert (t.needs_recalculation, t.entry_count) == (True, 2)
    assert t.stale_reason.startswith("never recalculated since data entry upload #")
    assert monitored(api, tokens) == {"stale": [(IT, "recalculating")], "failed": [],
                                      "metric": 1.0, "only_stale": [IT]}
    dispatch_jobs(kept)
    assert wait_pipeline(upload.pipeline_id).status == "SUCCESS"

    # Recalculated: up to date with its two entries.
    assert shown(api, tokens) == {("up_to_date", UP_TO_DATE)}
    assert len(emissions(IT)) == 2 and module_stats("LAB-A", EQUIPMENT, YEAR)["total"] > 0
    assert monitored(api, tokens) == NOTHING

    # A revert empties it (the revert of its first upload): no entry, no row, but the
    # statistics still count the old rows until a recalculation runs. It stays flagged.
    old_total = module_stats("LAB-A", EQUIPMENT, YEAR)["total"]
    with follow_ups_held(monkeypatch) as kept:
        r = api.post(f"/v1/sync/uploads/{upload.job_id}/revert", headers=tokens.op)
        assert r.status_code == 202, r.text
        revert = r.json()
        _wait_kept(kept)
    assert _entries() == 0 and emissions(IT) == []
    assert module_stats("LAB-A", EQUIPMENT, YEAR)["total"] == old_total
    t = _service_it()
    assert (t.state, t.needs_recalculation, t.entry_count) == ("recalculating", True, 0)
    assert monitored(api, tokens) == {"stale": [(IT, "recalculating")], "failed": [],
                                      "metric": 1.0, "only_stale": [IT]}
    # Its recalculation is aborted before it ran: failed, still stale, with nothing shown
    # as up to date.
    r = api.post(f"/v1/sync/pipelines/{revert['pipeline_id']}/abort", headers=tokens.op)
    assert r.status_code == 200, r.text
    (recalc,) = [j.id for j in jobs_of(revert["pipeline_id"])
                 if j.job_type == JobType.emission_recalc]
    assert shown(api, tokens) == {("failed", FAILED)}
    t = _service_it()
    assert (t.needs_recalculation, t.entry_count) == (True, 0)
    assert t.failed_run is not None and t.failed_run.job_id == recalc
    assert _card(api, tokens)[0] == "failed"
    assert monitored(api, tokens) == {"stale": [], "failed": [(IT, "failed")],
                                      "metric": 1.0, "only_stale": [IT]}
    with session_scope() as s:
        note = totals_note(s, YEAR, EQUIPMENT)
    assert note is not None and f"recalculation #{recalc} aborted" in note.text

    # Recalculated empty: its rows' totals are gone from the statistics; nothing to do.
    run(ops_recalc())
    assert module_stats("LAB-A", EQUIPMENT, YEAR)["total"] == 0
    assert shown(api, tokens) == {("up_to_date", UP_TO_DATE_NO_ENTRIES)}
    assert _card(api, tokens)[:2] == ("up_to_date", UP_TO_DATE_NO_ENTRIES)
    assert monitored(api, tokens) == NOTHING


def test_a_type_emptied_after_its_recalculation_reads_needs_recalculation(
        api: TestClient, tokens: Tokens) -> None:
    """Entries gone (here as an upload whose recalculation was never triggered leaves them:
    its rows deleted with them), the statistics still holding their kg: "⚠ needs
    recalculation" with no entry, on every surface, the units page included."""
    run(ops_units())
    run(it_factors())
    upload = run(ops_entries())
    recalc = _service_it().last_successful_recalculation_job_id
    assert recalc is not None and module_stats("LAB-A", EQUIPMENT, YEAR)["total"] > 0
    with session_scope() as s:
        s.execute(text("DELETE FROM data_entries WHERE data_entry_type_id = :d AND year = :y"),
                  {"d": IT, "y": YEAR})
    emptying = add_job(JobType.csv_ingest, EQUIPMENT, IT, by="carol")
    assert emptying.id > upload and emissions(IT) == []

    assert shown(api, tokens) == {("needs_recalculation", NEEDS)}
    t = _service_it()
    assert t.entry_count == 0 and t.needs_recalculation
    assert t.reasons == [t.stale_reason]
    assert t.stale_reason.startswith(f"data entry upload #{emptying.id} of ")
    assert t.stale_reason.endswith(f"by carol is newer than recalculation #{recalc}")
    assert monitored(api, tokens) == {"stale": [(IT, "needs_recalculation")], "failed": [],
                                      "metric": 1.0, "only_stale": [IT]}
    # The units page: its totals still count the rows of the entries that went.
    with session_scope() as s:
        note = totals_note(s, YEAR, EQUIPMENT)
    assert note is not None and t.stale_reason in note.text

    run(ops_recalc())
    assert module_stats("LAB-A", EQUIPMENT, YEAR)["total"] == 0
    assert shown(api, tokens) == {("up_to_date", UP_TO_DATE_NO_ENTRIES)}
    assert monitored(api, tokens) == NOTHING
    with session_scope() as s:
        assert totals_note(s, YEAR, EQUIPMENT) is None



def ops_units() -> ops.Accepted:
    return ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="test")


def ops_entries() -> ops.Accepted:
    return ops.start_upload("data-entries", IT_ENTRIES.encode(), module=EQUIPMENT, det=IT,
                            year=YEAR, created_by="test")


def ops_recalc() -> ops.Accepted:
    return ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="test")
