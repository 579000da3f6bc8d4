"""Staleness follows what a recalculation read, not the order its jobs were created in.

An upload job gets its id when it is accepted, but its rows land when its job finishes. A
recalculation created after an upload may plan before that upload lands (it never read it),
and one created before an upload may plan after it landed (it did read it). These scenarios
build both races for real: the upload's job is accepted while its dispatch is held back
(a slow broker or a busy worker), the recalculation runs on the test worker, then the held
job is sent. Each verdict is checked on the status service, ``/v1/sync/recalculation-
status``, the console's module card and the monitoring read (stale_stats).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.stale_stats import stale_stats
from carbon_domain.services.reads.status import TypeStatus, stale_types, year_status
from carbon_tasks import operations as ops
from carbon_tasks.dispatch import dispatch_jobs
from tests.console.display_support import card_states
from tests.console.support import sign_in

from .api_support import Tokens
from .helpers import UNITS_CSV, emissions, jobs_of, wait_pipeline
from .test_pipeline_guarantees import EQUIP_FACTORS as EQUIP_FACTORS_AT

pytestmark = pytest.mark.integration
YEAR, EQUIPMENT, IT = 2025, 4, 11
EQUIP_FACTORS = EQUIP_FACTORS_AT.format(ef="0.1")
IT_FACTORS_AT = ("equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
                 "Laptop,Standard,100,10,{ef}\n")
IT_FACTORS = IT_FACTORS_AT.format(ef="0.2")
IT_ENTRIES = ("unit_institutional_id,equipment_category,equipment_id,name,equipment_class,"
              "sub_class,active_usage_hours_per_week,standby_usage_hours_per_week\n"
              "UA,it,E1,Laptop 1,Laptop,Standard,40,128\n"
              "UB,it,E2,Laptop 2,Laptop,Standard,40,128\n")


def run(acc: ops.Accepted) -> int:
    p = wait_pipeline(acc.pipeline_id)
    assert p.status == "SUCCESS", [(j.job_type, j.result, j.status_message)
                                   for j in jobs_of(acc.pipeline_id)]
    return acc.job_id


@contextmanager
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Jobs accepted inside are created (they get their ids) but not sent to the worker
    until the caller sends them with ``dispatch_jobs``."""
    kept: list[int] = []
    with monkeypatch.context() as m:
        m.setattr(ops, "dispatch_jobs", kept.extend)
        yield kept


def it_factors(ef: str = "0.2") -> ops.Accepted:
    # recalculate=False: nothing but staleness tells the operator these factors are unread.
    # The same file again changes no factor and is no input (test_noop_factor_upload.py):
    # a test that needs a second input passes another ``ef``.
    return ops.start_upload("factors", IT_FACTORS_AT.format(ef=ef).encode(), module=EQUIPMENT,
                            det=IT, year=YEAR, created_by="test")


def recalc_it() -> ops.Accepted:
    return ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="test")


def service_it() -> TypeStatus:
    with session_scope() as s:
        (m,) = [m for m in year_status(s, YEAR) if m.module_type_id == EQUIPMENT]
    (t,) = [t for t in m.data_entry_types if t.data_entry_type_id == IT]
    return t


def api_it(api: TestClient, tokens: Tokens) -> dict[str, Any]:
    r = api.get("/v1/sync/recalculation-status", params={"year": YEAR}, headers=tokens.view)
    assert r.status_code == 200, r.text
    (m,) = [m for m in r.json() if m["module_type_id"] == EQUIPMENT]
    (t,) = [t for t in m["data_entry_types"] if t["data_entry_type_id"] == IT]
    return dict(t)


def card_it(api: TestClient, tokens: Tokens) -> tuple[str, list[str]]:
    """The IT row of the console's equipment card: its state and its reason lines."""
    if api.get(f"/console/data/{YEAR}", follow_redirects=False).status_code != 200:
        sign_in(api, tokens.viewer)
    _, states, html = card_states(api)
    row = html.split('<tr id="type-11"', 1)[1].split("</tr>", 1)[0]
    reasons = [r.split("</div>", 1)[0] for r in row.split("data-reason>")[1:]]
    return states[IT], reasons


def stamp(at: datetime | None) -> str:
    assert at is not None
    return f"{at:%Y-%m-%d %H:%M}"


def job(job_id: int) -> Job:
    with session_scope() as s:
        j = s.get(Job, job_id)
        assert j is not None
        s.expunge(j)
        return j


def assert_stale(api: TestClient, tokens: Tokens, reason: str) -> None:
    """Needs recalculation with ``reason`` on every surface."""
    t = service_it()
    assert (t.state, t.needs_recalculation, t.stale_reason) == (
        "needs_recalculation", True, reason), (t.state, t.stale_reason)
    assert t.reasons == [reason]
    a = api_it(api, tokens)
    assert (a["state"], a["needs_recalculation"], a["stale_reason"], a["reasons"]) == (
        "needs_recalculation", True, reason, [reason])
    assert card_it(api, tokens) == ("needs_recalculation", [reason])
    with session_scope() as s:
        assert IT in stale_types(s, EQUIPMENT, YEAR)


def assert_up_to_date(api: TestClient, tokens: Tokens) -> None:
    t = service_it()
    assert (t.state, t.needs_recalculation, t.stale_reason) == ("up_to_date", False, None), (
        t.state, t.stale_reason)
    a = api_it(api, tokens)
    assert (a["state"], a["needs_recalculation"], a["stale_reason"]) == (
        "up_to_date", False, None)
    assert card_it(api, tokens) == ("up_to_date", [])
    with session_scope() as s:
        assert IT not in stale_types(s, EQUIPMENT, YEAR)
        report = stale_stats(s, 0, YEAR)
    assert [(r.module_type_id, r.data_entry_type_id) for r in report.stale + report.failed
            if r.data_entry_type_id == IT] == []


@pytest.fixture
def equipment(db: str, worker: Any) -> int:
    """Units, the module's factors and two IT entries, recalculated: IT is up to date."""
    run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="test"))
    run(ops.start_upload("factors", EQUIP_FACTORS.encode(), module=EQUIPMENT, year=YEAR,
                         created_by="test"))
    acc = ops.start_upload("data-entries", IT_ENTRIES.encode(), module=EQUIPMENT, det=IT,
                           year=YEAR, created_by="test")
    run(acc)
    assert service_it().state == "up_to_date"
    return acc.job_id


def kg(rows: list[tuple[Any, ...]]) -> float:
    return round(sum(float(r[3]) for r in rows), 6)


def test_created_before_the_recalculation_landed_after_its_plan(
        equipment: int, api: TestClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    with held(monkeypatch) as kept:
        factors = it_factors()
    recalc = run(recalc_it())
    assert factors.job_id < recalc  # created first …
    before = kg(emissions(IT))
    assert_up_to_date(api, tokens)  # … not landed yet: nothing new to read
    dispatch_jobs(kept)
    run(factors)  # … landed after the recalculation had read its inputs
    assert kg(emissions(IT)) == before  # the rows still use the old factor
    f = job(factors.job_id)
    reason = (f"factor upload #{f.id} of {stamp(f.created_at)} by test landed after "
              f"recalculation #{recalc} read its inputs")
    assert_stale(api, tokens, reason)
    with session_scope() as s:
        report = stale_stats(s, 0, YEAR)
    (row,) = [r for r in report.stale if (r.module_type_id, r.data_entry_type_id)
              == (EQUIPMENT, IT)]
    assert (row.state, row.reasons, row.since) == ("needs_recalculation", [reason],
                                                   f.finished_at)
    # A recalculation planned after it landed reads it.
    run(recalc_it())
    assert kg(emissions(IT)) == 2 * before
    assert_up_to_date(api, tokens)


def test_created_after_the_recalculation_landed_before_its_plan(
        equipment: int, api: TestClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = kg(emissions(IT))
    with held(monkeypatch) as kept:
        recalc = recalc_it()
    factors = run(it_factors())  # created after the recalculation, landed before it ran
    assert recalc.job_id < factors
    assert service_it().state == "recalculating"
    dispatch_jobs(kept)
    run(recalc)
    assert kg(emissions(IT)) == 2 * before  # the recalculation did read the new factor
    assert_up_to_date(api, tokens)


def test_an_earlier_upload_pending_while_a_later_one_had_landed(
        equipment: int, api: TestClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    with held(monkeypatch) as kept:
        slow = it_factors()
    # A module-wide factor upload, accepted and landed after the IT one was accepted.
    fast = run(ops.start_upload("factors", EQUIP_FACTORS.replace(",0.1\n", ",0.3\n").encode(),
                                module=EQUIPMENT, year=YEAR, created_by="test"))
    recalc = run(recalc_it())
    assert slow.job_id < fast < recalc
    assert_up_to_date(api, tokens)
    dispatch_jobs(kept)
    run(slow)
    f = job(slow.job_id)
    # The last input (the module-wide upload) was read; the earlier one was not.
    assert service_it().last_input_job_id == fast
    assert_stale(api, tokens, f"factor upload #{f.id} of {stamp(f.created_at)} by test "
                              f"landed after recalculation #{recalc} read its inputs")
    # As its plan recorded it: the module-wide upload read, the IT one pending (imported
    # here so that, on code without the record, the verdicts above fail first).
    from carbon_domain.services.recalc.inputs_read import recorded  # noqa: PLC0415
    with session_scope() as s:
        read = recorded(s, [recalc])[recalc]
    assert (read.upto >= fast, read.pending) == (True, [slow.job_id])


def test_recalculations_without_the_record_keep_the_id_rule(
        equipment: int, api: TestClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    with held(monkeypatch) as kept:
        factors = it_factors()
    recalc = run(recalc_it())
    dispatch_jobs(kept)
    run(factors)
    assert service_it().state == "needs_recalculation"
    # A recalculation recorded before its plan wrote what it read: a lower id is covered.
    with session_scope() as s:
        r = s.get(Job, recalc)
        assert r is not None and "inputs_read" in r.meta["config"]
        r.meta = {**r.meta, "config": {k: v for k, v in r.meta["config"].items()
                                       if k != "inputs_read"}}
    assert_up_to_date(api, tokens)
    # … and a higher id is not.
    with held(monkeypatch) as kept:
        later = it_factors(ef="0.3")
    dispatch_jobs(kept)
    run(later)
    f = job(later.job_id)
    assert_stale(api, tokens, f"factor upload #{f.id} of {stamp(f.created_at)} by test is "
                              f"newer than recalculation #{recalc}")
    with session_scope() as s:
        assert s.scalar(select(Job.id).where(Job.id > later.job_id,
                                             Job.job_type == "emission_recalc")) is None
