"""A type whose last good recalculation left entries without a matching factor is
``incomplete`` ("3 of 6 entries without a matching factor"), not "✓ up to date", on every
surface (the status service, ``/v1/sync/recalculation-status``, ``carbon status --json``, the
console's module card), and up to date again once a recalculation matches them all.

The count is the slice's, not one run's: an incremental recalculation rewrites only the
entries a change can affect, so it carries its base's count forward (a later run over the
matched entries alone does not hide the unmatched ones). Real uploads and recalculations on
the test worker (PostgreSQL). Before: the type read up to date after "Recalculated 3 it
entries: 0 emission rows, 3 without a matching factor".
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.status import TypeStatus, year_status
from carbon_tasks import operations as ops
from tests.console.display_support import card_states, cli_status, type_of
from tests.console.support import sign_in

from .api_support import Tokens
from .helpers import UNITS_CSV, jobs_of, wait_pipeline
from .test_staleness_landed_inputs import api_it

pytestmark = pytest.mark.integration
YEAR, EQUIPMENT, IT = 2025, 4, 11
HEAD = "equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
LAPTOP, DESKTOP, MONITOR = ("Laptop,,100,10,{ef}\n", "Desktop,,200,20,0.1\n",
                            "Monitor,,30,3,0.1\n")
ENTRIES = ("unit_institutional_id,equipment_id,name,equipment_class,"
           "active_usage_hours_per_week,standby_usage_hours_per_week\n"
           + "".join(f"UA,L{i},Laptop {i},Laptop,40,128\n" for i in range(3))
           + "UA,D1,Desktop 1,Desktop,40,128\nUB,D2,Desktop 2,Desktop,40,128\n"
           + "UB,M1,Monitor 1,Monitor,40,128\n")
DETAIL = "3 of 6 entries without a matching factor"


def _run(acc: ops.Accepted) -> list[Any]:
    p = wait_pipeline(acc.pipeline_id)
    jobs = jobs_of(acc.pipeline_id)
    assert p.status == "SUCCESS", [(j.job_type, j.result, j.status_message) for j in jobs]
    return jobs


def _factors(body: str) -> list[Any]:
    """Replace the IT factor set with ``body`` and recalculate."""
    return _run(ops.start_upload("factors", (HEAD + body).encode(), module=EQUIPMENT, det=IT,
                                 year=YEAR, recalculate=True, created_by="alice"))


def _recalculation(jobs: list[Any]) -> Any:
    (job,) = [j for j in jobs if j.job_type == "emission_recalc"]
    return job


def _service() -> TypeStatus:
    with session_scope() as s:
        (m,) = [m for m in year_status(s, YEAR) if m.module_type_id == EQUIPMENT]
    (t,) = [t for t in m.data_entry_types if t.data_entry_type_id == IT]
    assert m.state == t.state  # IT is the module's only type with inputs
    return t


def _everywhere(api: TestClient, tokens: Tokens) -> set[tuple[str, str | None]]:
    """(state, detail) of IT on the four surfaces (one element when they agree)."""
    t = _service()
    a = api_it(api, tokens)
    c = type_of(cli_status(), IT)
    if api.get(f"/console/data/{YEAR}", follow_redirects=False).status_code != 200:
        sign_in(api, tokens.viewer)
    _, states, html = card_states(api)
    row = html.split(f'<tr id="type-{IT}"', 1)[1].split("</tr>", 1)[0]
    shown = row.split("data-detail>", 1)[1].split("</div>", 1)[0] if "data-detail>" in row \
        else None
    return {(t.state, t.state_detail), (a["state"], a["state_detail"]),
            (c["state"], c["state_detail"]), (states[IT], shown)}


def test_entries_left_without_a_matching_factor_make_the_type_incomplete_until_matched(
        api: TestClient, tokens: Tokens) -> None:
    _run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="alice"))
    _factors(LAPTOP.format(ef="0.1") + DESKTOP + MONITOR)
    _run(ops.start_upload("data-entries", ENTRIES.encode(), module=EQUIPMENT, det=IT,
                          year=YEAR, created_by="alice"))
    assert _everywhere(api, tokens) == {("up_to_date", None)}

    # Only Laptop is left: the Desktop and Monitor entries lose their factor.
    recalc = _recalculation(_factors(LAPTOP.format(ef="0.1")))
    assert recalc.meta["config"]["scope"]["incremental"] is True  # the 3 entries it affects
    assert recalc.result == "SUCCESS"  # the job's result rules are unchanged
    assert "3 without a matching factor" in recalc.status_message
    assert _everywhere(api, tokens) == {("incomplete", DETAIL)}
    t = _service()
    assert (t.incomplete, t.incomplete_reasons, t.entries_without_factor, t.state_label) == (
        True, [DETAIL], 3, "◌ incomplete")
    # The recalculation dialog does not call the module up to date: it says why recalculating
    # changes nothing.
    dialog = api.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}/recalculate").text
    assert "All types are up to date" not in dialog
    assert "No type needs recalculation" in dialog and "some miss what they need" in dialog

    # A revised Laptop factor recalculates the Laptop entries only (all matched): the
    # Desktop and Monitor entries are still without a factor.
    recalc = _recalculation(_factors(LAPTOP.format(ef="0.2")))
    assert recalc.meta["config"]["scope"]["incremental"] is True
    assert recalc.meta["recalculation"]["missing_factors"] == 0
    assert _everywhere(api, tokens) == {("incomplete", DETAIL)}
    # So does a recalculation that finds nothing changed (the same file again) …
    recalc = _recalculation(_factors(LAPTOP.format(ef="0.2")))
    assert recalc.meta["recalculation"]["entries"] == 0
    assert _everywhere(api, tokens) == {("incomplete", DETAIL)}
    # … and an operator's (full) one.
    recalc = _recalculation(_run(ops.trigger_recalculation(
        module=EQUIPMENT, det=IT, year=YEAR, created_by="alice")))
    assert recalc.meta["config"]["scope"]["incremental"] is False
    assert _everywhere(api, tokens) == {("incomplete", DETAIL)}

    # The factors restored: every entry matches again.
    recalc = _recalculation(_factors(LAPTOP.format(ef="0.2") + DESKTOP + MONITOR))
    assert recalc.meta["config"]["scope"]["incremental"] is True
    assert _everywhere(api, tokens) == {("up_to_date", None)}
    assert _service().entries_without_factor == 0


def test_a_full_recalculation_counts_the_whole_slice(api: TestClient, tokens: Tokens) -> None:
    _run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="alice"))
    _factors(LAPTOP.format(ef="0.1"))
    jobs = _run(ops.start_upload("data-entries", ENTRIES.encode(), module=EQUIPMENT, det=IT,
                                 year=YEAR, created_by="alice"))
    recalc = _recalculation(jobs)
    assert recalc.meta["config"]["scope"]["incremental"] is False
    assert (recalc.result, recalc.meta["recalculation"]["missing_factors"]) == ("SUCCESS", 3)
    assert _everywhere(api, tokens) == {("incomplete", DETAIL)}
    _factors(LAPTOP.format(ef="0.1") + DESKTOP + MONITOR)
    assert _everywhere(api, tokens) == {("up_to_date", None)}
