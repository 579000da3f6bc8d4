"""Since when a type has been stale, the same on both monitoring surfaces: ``GET
/v1/health/stale-stats`` and ``carbon_oldest_stale_seconds`` on ``/metrics``.

Since is the finish of the first input the last good recalculation did not read, reference
uploads included (they have no module and no year), and a later upload does not restart the
clock. Before: a reference upload left ``since`` null (a null age passed every
``older_than``: an alert at once), and the metric counted from the *last* input's creation.
Real uploads and recalculations on the test worker; an input's finish time is moved back
in the database to stand for an upload made two hours ago.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.base import utcnow
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .api_support import Tokens
from .helpers import UNITS_CSV, jobs_of, wait_pipeline
from .test_metrics import scrape, value
from .test_reference_staleness import TYPES

pytestmark = pytest.mark.integration
YEAR, PURCHASE, EQUIPMENT = 2025, 5, 4
HOUR = 3600.0


def _run(acc: ops.Accepted) -> int:
    p = wait_pipeline(acc.pipeline_id)
    assert p.status == "SUCCESS", [(j.job_type, j.result, j.status_message)
                                   for j in jobs_of(acc.pipeline_id)]
    return acc.job_id



def _backdate(job_id: int, seconds: float) -> None:
    with session_scope() as s:
        s.execute(update(Job).where(Job.id == job_id).values(
            finished_at=utcnow() - timedelta(seconds=seconds)))


def _stale(api: TestClient, tokens: Tokens, older_than: float) -> dict[int, dict[str, Any]]:
    r = api.get("/v1/health/stale-stats", params={"older_than": older_than},
                headers=tokens.view)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["failed"] == []
    return {row["data_entry_type_id"]: row for row in body["stale"] if row["year"] == YEAR}


def _oldest(api: TestClient, tokens: Tokens) -> float:
    return value(scrape(api, tokens), "carbon_oldest_stale_seconds", year=str(YEAR))


def _setup() -> None:
    """Units, purchase services and IT with factors and one entry each, recalculated."""
    _run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="test"))
    for det in (D.services, D.it):
        module, factors, entries = TYPES[det]
        _run(ops.start_upload("factors", factors.encode(), module=module, det=det, year=YEAR,
                              created_by="test"))
        _run(ops.start_upload("data-entries", entries.encode(), module=module, det=det,
                              year=YEAR, created_by="test"))


def test_a_reference_upload_dates_staleness_from_its_finish_on_both_surfaces(
        api: TestClient, tokens: Tokens) -> None:
    _setup()
    assert _stale(api, tokens, 0) == {}
    assert _oldest(api, tokens) == 0
    rates = _run(ops.start_upload("exchange-rates", b"year,currency,rate_to_eur\n2025,chf,1.1\n",
                                  mode="merge", created_by="alice"))
    # Just uploaded: younger than an hour on both surfaces, not an alert at once.
    assert _stale(api, tokens, HOUR) == {}
    fresh = _stale(api, tokens, 0)
    assert D.services in fresh and D.it not in fresh
    row = fresh[D.services]
    assert row["since"] is not None and row["stale_seconds"] is not None
    assert row["stale_seconds"] < 60
    assert 0 < _oldest(api, tokens) < 60
    # Two hours ago: both surfaces say two hours.
    _backdate(rates, 2 * HOUR)
    old = _stale(api, tokens, HOUR)
    assert set(old) == set(fresh)
    assert all(2 * HOUR <= r["stale_seconds"] < 2 * HOUR + 60 for r in old.values())
    oldest = _oldest(api, tokens)
    assert 2 * HOUR <= oldest < 2 * HOUR + 60
    assert abs(oldest - max(r["stale_seconds"] for r in old.values())) < 30


def test_a_later_factor_upload_does_not_restart_the_clock_on_either_surface(
        api: TestClient, tokens: Tokens) -> None:
    _setup()
    module, factors, _ = TYPES[D.it]
    laptop = "Laptop,,100,10,{ef}\n"
    header = factors.split("\n", 1)[0] + "\n"
    first = _run(ops.start_upload("factors", (header + laptop.format(ef="0.2")).encode(),
                                  module=module, det=D.it, year=YEAR, created_by="alice"))
    fresh = _stale(api, tokens, 0)
    assert set(fresh) == {D.it}
    assert fresh[D.it]["since"] is not None
    _backdate(first, 2 * HOUR)
    # A second upload now: the type has been stale since the first one.
    _run(ops.start_upload("factors", (header + laptop.format(ef="0.3")).encode(),
                          module=module, det=D.it, year=YEAR, created_by="alice"))
    old = _stale(api, tokens, HOUR)
    assert set(old) == {D.it}
    assert 2 * HOUR <= old[D.it]["stale_seconds"] < 2 * HOUR + 60
    oldest = _oldest(api, tokens)
    assert 2 * HOUR <= oldest < 2 * HOUR + 60
    assert abs(oldest - old[D.it]["stale_seconds"]) < 30
