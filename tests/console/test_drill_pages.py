"""The console's drill-down over HTTP (carbon_api/console/drill_pages.py): the module card
links to the module's units; each unit (its entry count and stored total) links to its
entries, 50 a page, each with its kg CO2-eq and factor (or, in red, why it has none) and a
link to its explanation; the explanation shows the drill-down trail, the upload that set the
factor's version and the formula inputs. Bad input is a 4xx page, never a 5xx."""

from __future__ import annotations

import math
import re

import httpx
import pytest
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .html_tables import rows
from .html_tables import text as plain
from .support import E_HEADER, EQUIPMENT, IT, YEAR, run, seed_equipment, sign_in

pytestmark = pytest.mark.integration
LAPTOPS = 110  # 55 per unit: two pages of 50 for LAB-A (with its tablet)


def _load() -> None:
    seed_equipment(entries_per_type=2, types=(IT,))
    body = "".join(f"U{'AB'[i % 2]},E-{i},Laptop {i},Laptop,Standard,{10 + i % 5},20\n"
                   for i in range(LAPTOPS)) + "UA,T-1,Tablet,Tablet,,10,20\n"
    assert run(ops.start_upload("data-entries", (E_HEADER + body).encode(), module=EQUIPMENT,
                                det=IT, year=YEAR, created_by="loader")) == "SUCCESS"


def _db(sql: str, **kw: object) -> list[tuple]:  # type: ignore[type-arg]
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(sql), kw)]


def test_module_units_entries_and_explanation(http: httpx.Client,
                                              tokens: dict[str, str]) -> None:
    _load()
    r = http.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}/units", follow_redirects=False)
    assert r.status_code == 303 and "/login" in r.headers["location"]  # signed out
    sign_in(http, tokens["viewer"])
    data = http.get(f"/console/data/{YEAR}").text
    assert (f'id="drill-{EQUIPMENT}" href="/console/data/{YEAR}/modules/{EQUIPMENT}/units">'
            "Entries by unit</a>") in data

    # Units: each with its entries and the module's stored total, linking to its entries.
    page = http.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}/units")
    assert page.status_code == 200
    stored = {code: (rid, n, kg) for code, rid, n, kg in _db(
        "SELECT u.institutional_code, r.id, count(d.id),"
        " (m.stats->>'total')::float FROM carbon_reports r JOIN units u ON u.id = r.unit_id"
        " JOIN carbon_report_modules m ON m.carbon_report_id = r.id AND m.module_type_id = 4"
        " JOIN data_entries d ON d.carbon_report_module_id = m.id WHERE r.year = :y"
        " GROUP BY 1, 2, 4", y=YEAR)}
    assert {c: v[1] for c, v in stored.items()} == {"LAB-A": 56, "LAB-B": 55}
    units = rows(page.text, "Units")
    assert [u.cells[0] for u in units] == ["LAB-A", "LAB-B"]
    for u in units:
        rid, n, kg = stored[u.cells[0]]
        assert u.cells[2] == f"{n:,}" and u.cells[3] == f"{kg / 1000:,.2f}"
        assert float(u.values[3] or "nan") == kg
        assert f'href="/console/reports/{rid}/modules/{EQUIPMENT}/entries"' in u.raw
    assert "2 units with 111 entries in Equipment for 2025" in plain(page.text)

    # LAB-A's entries: page 1 of 2, each with its kg (sum of its rows) and factor.
    rid = stored["LAB-A"][0]
    base = f"/console/reports/{rid}/modules/{EQUIPMENT}/entries"
    first = http.get(base)
    assert first.status_code == 200
    assert "56 entries · page 1 of 2" in plain(first.text)
    listed = rows(first.text, "Entries")
    assert len(listed) == 50
    kg_of = {e: (kg, f) for e, kg, f in _db(
        "SELECT d.id, sum(x.kg_co2eq), min(x.primary_factor_id) FROM data_entries d"
        " JOIN data_entry_emissions x ON x.data_entry_id = d.id"
        " WHERE d.carbon_report_module_id = (SELECT m.id FROM carbon_report_modules m"
        " WHERE m.carbon_report_id = :r AND m.module_type_id = 4) GROUP BY d.id", r=rid)}
    ids = [int(e.values[0] or 0) for e in listed]
    assert ids == sorted(ids) and len(kg_of) == 55
    for e in listed:
        kg, fid = kg_of[int(e.values[0] or 0)]
        assert math.isclose(float(e.values[3] or "nan"), kg, rel_tol=1e-12)
        assert e.cells[3] == f"{kg:,.3f}" and e.cells[4] == str(fid)
        assert f'href="/console/factors/{fid}"' in e.raw
        assert f'href="/console/entries/{e.values[0]}"' in e.raw
    assert re.search(rf'<a href="{base}\?page=2"\s*>Next</a>', first.text), first.text

    second = rows(http.get(base, params={"page": 2}).text, "Entries")
    assert len(second) == 6 and int(second[0].values[0] or 0) > ids[-1]
    tablet = second[-1]
    assert "no-row" in tablet.attrs and tablet.cells[3] == "—"
    assert tablet.cells[4] == "no factor for equipment_class='Tablet'"
    assert 'data-reason="no_matching_factor"' in tablet.raw

    # Filters: only entries without a row; a type of another module is refused.
    missing = http.get(base, params={"missing": "true"})
    assert [e.values[0] for e in rows(missing.text, "Entries")] == [tablet.values[0]]
    assert "1 entry" in plain(missing.text)
    assert len(rows(http.get(base, params={"missing": "false", "det": IT}).text,
                    "Entries")) == 50

    # The explanation: trail back to the unit's entries, the upload that set the factor,
    # the formula and its inputs.
    entry = int(listed[0].values[0] or 0)
    kg, fid = kg_of[entry]
    (job, pipeline), = _db("SELECT j.id, j.pipeline_id FROM factor_history h JOIN"
                           " data_ingestion_jobs j ON j.id = h.job_id WHERE h.factor_id = :f"
                           " ORDER BY h.id DESC LIMIT 1", f=fid)
    explained = http.get(f"/console/entries/{entry}")
    assert explained.status_code == 200
    assert f'id="trail-entries" href="{base}">LAB-A</a>' in explained.text
    assert (f'<a href="/console/pipelines?focus={pipeline}" data-set-by-job="{job}">'
            f"job {job}</a>") in explained.text
    formula = rows(explained.text, "Formula inputs")
    assert len(formula) == 1
    assert "ef_kg_co2eq_per_kwh = 0.1" in formula[0].cells[2]
    assert "active_power_w = 100" in formula[0].cells[2]
    assert math.isclose(float(re.search(r'data-kg="([^"]+)"', formula[0].raw).group(1)),  # type: ignore[union-attr]
                        kg, rel_tol=1e-12)


def test_drill_down_bad_input(http: httpx.Client, tokens: dict[str, str]) -> None:
    _load()
    sign_in(http, tokens["viewer"])
    (rid,), = _db("SELECT r.id FROM carbon_reports r JOIN units u ON u.id = r.unit_id"
                  " WHERE u.institutional_code = 'LAB-A'")
    base = f"/console/reports/{rid}/modules/{EQUIPMENT}/entries"
    r = http.get(base, params={"det": 1})
    assert r.status_code == 422 and "does not belong to module 4" in r.text
    r = http.get("/console/reports/999999/modules/4/entries")
    assert r.status_code == 404 and "Report 999999 has no module 4" in r.text
    for bad in (f"/console/reports/{rid}/modules/9/entries", "/console/reports/0/modules/4/entries",
                f"{base}?page=0", f"{base}?det=abc", f"{base}?missing=maybe",
                "/console/data/1999/modules/4/units", f"/console/data/{YEAR}/modules/0/units"):
        assert http.get(bad).status_code == 422, bad
    beyond = http.get(base, params={"page": 99})
    assert beyond.status_code == 200 and "No entries match." in beyond.text
    empty = http.get(f"/console/data/{YEAR}/modules/1/units")
    assert empty.status_code == 200
    assert "No unit has entries in Headcount for 2025." in plain(empty.text)
