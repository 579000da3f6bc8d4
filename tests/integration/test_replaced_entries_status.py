"""A type whose entries a data upload replaced, and whose recalculation then did not run
(aborted or failed before any chunk), says what is true of the entries it has now.

The upload deletes the replaced entries with their emission rows and loads new ones that
have no row until a recalculation computes them. The last good recalculation's counts
describe the entries that are gone. Before: the IT row of the console (and the API, the
CLI) said "recalculation #N aborted … before any chunk ran — no numbers rewritten" while
every IT row was gone, "◌ 1 of 3 entries without a matching factor" and "Without factor: 1"
beside "Entries: 4" — counts of the replaced file (the operator met it after aborting a
revert's recalculation: `carbon revert JOB`, then Abort).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

import carbon_tasks.base
from carbon_tasks import operations as ops
from tests.console.display_support import card_states
from tests.console.support import sign_in

from .api_support import Tokens
from .helpers import UNITS_CSV, emissions, jobs_of
from .test_pipeline_guarantees import EQUIP_FACTORS
from .test_staleness_landed_inputs import api_it, run, service_it

pytestmark = pytest.mark.integration
YEAR, EQUIPMENT, IT = 2025, 4, 11
HEAD = ("unit_institutional_id,equipment_category,equipment_id,name,equipment_class,"
        "sub_class,active_usage_hours_per_week,standby_usage_hours_per_week\n")
# Two laptops and a toaster no factor matches.
FIRST = HEAD + ("UA,it,E1,Laptop 1,Laptop,Standard,40,128\n"
                "UB,it,E2,Laptop 2,Laptop,Standard,40,128\n"
                "UA,it,T1,Toaster,Toaster,,1,1\n")
# Four laptops, every one with a factor.
SECOND = HEAD + "".join(f"U{'AB'[i % 2]},it,L{i},Laptop {i},Laptop,Standard,40,128\n"
                        for i in range(4))


@contextmanager
def follow_ups_held(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The worker runs the upload, but the recalculation it creates is never sent."""
    kept: list[int] = []
    with monkeypatch.context() as m:
        m.setattr(carbon_tasks.base, "dispatch_jobs", kept.extend)
        yield kept


def card_it(api: TestClient, tokens: Tokens) -> tuple[str, str]:
    """The IT row of the console's equipment card: (its state, its text)."""
    sign_in(api, tokens.viewer)
    _, states, html = card_states(api)
    row = html.split('<tr id="type-11"', 1)[1].split("</tr>", 1)[0]
    return states[IT], " ".join(re.sub(r"<[^>]+>", " ", row).split())


@pytest.fixture
def equipment(db: str, worker: Any) -> None:
    """IT with three entries, one without a factor, recalculated: "◌ incomplete"."""
    run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="test"))
    run(ops.start_upload("factors", EQUIP_FACTORS.format(ef="0.1").encode(), module=EQUIPMENT,
                         year=YEAR, created_by="test"))
    run(ops.start_upload("data-entries", FIRST.encode(), module=EQUIPMENT, det=IT, year=YEAR,
                         created_by="test"))
    t = service_it()
    assert (t.state, t.entry_count, t.entries_without_factor) == ("incomplete", 3, 1)
    assert t.incomplete_reasons == ["1 of 3 entries without a matching factor"]
    assert len(emissions(IT)) == 2


def _second_upload_aborted(api: TestClient, tokens: Tokens,
                           monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """SECOND uploaded, its recalculation aborted before it ran: (upload job, recalculation)."""
    with follow_ups_held(monkeypatch) as kept:
        acc = ops.start_upload("data-entries", SECOND.encode(), module=EQUIPMENT, det=IT,
                               year=YEAR, created_by="test")
        deadline = time.monotonic() + 30
        while not kept:  # the upload runs; the recalculation it creates waits
            assert time.monotonic() < deadline, jobs_of(acc.pipeline_id)
            time.sleep(0.05)
    r = api.post(f"/v1/sync/pipelines/{acc.pipeline_id}/abort", headers=tokens.op)
    assert r.status_code == 200, r.text
    (recalc,) = [j.id for j in jobs_of(acc.pipeline_id) if j.job_type == "emission_recalc"]
    return acc.job_id, recalc


def _units_page(api: TestClient, tokens: Tokens) -> tuple[str, list[tuple[str, str, str]]]:
    """The console's "entries by unit" page of equipment: (its text, its rows as (unit,
    entries, t CO2-eq))."""
    if api.get(f"/console/data/{YEAR}", follow_redirects=False).status_code != 200:
        sign_in(api, tokens.viewer)
    html = api.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}/units").text
    rows = [tuple(" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells)
            for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
                          for row in re.findall(r'<tr data-report="\d+">(.*?)</tr>', html, re.S))]
    main = html.split("<main", 1)[1]
    return " ".join(re.sub(r"<[^>]+>", " ", main).split()), [(r[0], r[2], r[3]) for r in rows]


def test_an_aborted_recalculation_after_a_data_upload_says_its_entries_have_no_numbers(
        equipment: None, api: TestClient, tokens: Tokens,
        monkeypatch: pytest.MonkeyPatch) -> None:
    upload, recalc = _second_upload_aborted(api, tokens, monkeypatch)

    # The truth: four entries, none with an emission row.
    assert emissions(IT) == []
    t = service_it()
    assert (t.state, t.entry_count) == ("failed", 4)
    assert t.entries_without_factor is None and t.entries_with_errors is None
    assert t.incomplete_reasons == []
    expected = (f"recalculation #{recalc} aborted by ops-alice before any chunk ran — the "
                f"entries of data entry upload #{upload} have no numbers yet")
    assert t.state_detail == expected
    a = api_it(api, tokens)
    assert (a["state"], a["entry_count"], a["entries_without_factor"], a["state_detail"],
            a["incomplete_reasons"]) == ("failed", 4, None, expected, [])
    state, text = card_it(api, tokens)
    assert state == "failed"
    assert expected in text
    assert "no numbers rewritten" not in text
    assert "without a matching factor" not in text
    # Retrying computes the new entries: up to date, with their own counts.
    run(ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="test"))
    assert len(emissions(IT)) == 4
    t = service_it()
    assert (t.state, t.entry_count, t.entries_without_factor) == ("up_to_date", 4, 0)


def test_the_units_page_says_when_its_totals_are_not_the_entries_it_counts(
        equipment: None, api: TestClient, tokens: Tokens,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The units page counts the entries stored now beside the module's stored totals (its
    last aggregation). Before, after the second upload's aborted recalculation it listed 'LAB-A
    2 entries 0.03 t' with the kg of entries that were gone, and nothing said so."""
    text, rows = _units_page(api, tokens)
    assert "not up to date" not in text  # IT is only incomplete: its totals are its rows
    before = dict((u, t) for u, _n, t in rows)
    upload, recalc = _second_upload_aborted(api, tokens, monkeypatch)
    text, rows = _units_page(api, tokens)
    assert [(u, n) for u, n, _t in rows] == [("LAB-A", "2"), ("LAB-B", "2")]
    assert dict((u, t) for u, _n, t in rows) == before  # the totals of the replaced entries
    assert ("⚠ Equipment is not up to date: IT — recalculation "
            f"#{recalc} aborted by ops-alice before any chunk ran — the entries of data entry"
            f" upload #{upload} have no numbers yet. The t CO2-eq are its totals as of ") in text
    assert "the entries are those stored now" in text
    run(ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="test"))
    text, _rows = _units_page(api, tokens)
    assert "not up to date" not in text
