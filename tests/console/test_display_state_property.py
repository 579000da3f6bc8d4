"""Every combination of job states of a type gives exactly one display state, the one an
independent oracle expects, and the console, the API and the CLI show the same (a property
test over job rows written the way the job service writes them)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.formula_versions import formula_versions
from carbon_tasks import operations as ops

from .display_support import add_chunks, add_job, agree, card_states, type_of
from .support import EQUIPMENT, IT, YEAR, run, sign_in

pytestmark = pytest.mark.integration

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
    # The type has no entry here: until a recalculation has finished it has nothing to
    # recalculate and no row in the statistics ("✓ up to date (no entries)").
    needs = bool(recalcs) and (not good or max(inputs) > max(good) or bumped
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
                                b"parent_institutional_code\nLAB-A,UA,Lab A,4,\n",
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
            add_job(JobType.factor_ingest if e == "factor" else JobType.csv_ingest, IT)
        else:
            result = {"recalc_ok": "SUCCESS", "recalc_warning": "WARNING"}.get(e, "ERROR")
            meta = {"aborted": True, "aborted_by": "alice"} if e == "recalc_aborted" else {}
            job_id = add_job(JobType.emission_recalc, IT, result=result, meta=meta)
            if e == "recalc_error_partial":
                add_chunks(job_id, total=3, done=1)
    if active:
        add_job(JobType.emission_recalc, IT, state=active, result=None, pipeline=True)
    if aggregating:
        add_job(JobType.aggregation, None, state="RUNNING", result=None)
    m = agree(http, empty_year["viewer"])
    it = type_of([m], IT)
    assert (it["state"], m["state"], it["needs_recalculation"]) == _expected(
        events, active, aggregating, bumped), (events, active, aggregating, bumped, it)
    # Exactly one state, and no contradiction beside it.
    _, card, html = card_states(http)
    row = html.split(f'id="type-{IT}"')[1].split("</tr>")[0]
    assert card[IT] == it["state"]
    if it["state"] != "up_to_date":
        assert "✓ up to date" not in row  # (an export link may say "not up to date")
    assert (it["action"] == "Retry") == (it["state"] == "failed")
    if it["state"] in ("needs_recalculation", "failed"):
        assert it["reasons"]
    if it["state"] == "failed":
        assert it["state_detail"] == it["failed_run"]["text"]
