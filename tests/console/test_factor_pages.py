"""The console's factor pages over HTTP: the listing links each factor to its page, the page
shows the history timeline (newest first), an entry's page names the factor version its rows
were computed with and links to the factor; unknown ids are a 404 page, bad ids a 422, and
signed-out visitors are sent to sign in."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .support import EQUIPMENT, F_HEADER, IT, YEAR, last_entry_id, run, seed_equipment, sign_in

pytestmark = pytest.mark.integration


def test_factor_listing_page_timeline_and_entry(http: httpx.Client,
                                                tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=4, types=(IT,))
    assert run(ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.3\n").encode(),
                                module=EQUIPMENT, det=IT, year=YEAR, created_by="reviser",
                                recalculate=True)) == "SUCCESS"
    with session_scope() as s:
        fid, job = s.execute(text("SELECT id, changed_by_job_id FROM factors")).one()
    # Signed out: redirected to sign in.
    r = http.get(f"/console/factors/{fid}", follow_redirects=False)
    assert r.status_code in (302, 303, 307) or "Sign in" in r.text
    sign_in(http, tokens["viewer"])

    listing = http.get("/console/factors", params={"det": IT, "year": YEAR})
    assert listing.status_code == 200
    assert f'href="/console/factors/{fid}"' in listing.text
    assert "<b>1</b> factors" in listing.text

    page = http.get(f"/console/factors/{fid}")
    assert page.status_code == 200
    changes = re.findall(r'<tr data-change="(\w+)">', page.text)
    assert changes == ["updated", "inserted"]  # newest first
    assert "v2 (current)" in page.text and "reviser" in page.text
    assert re.search(r"<b>ef_kg_co2eq_per_kwh</b>: 0\.1 → 0\.3", page.text), page.text

    entry = last_entry_id(IT)
    e = http.get(f"/console/entries/{entry}")
    assert e.status_code == 200
    assert f'<a href="/console/factors/{fid}">{fid}</a> v2 (job {job})' in e.text

    assert http.get("/console/factors/999999").status_code == 404
    assert http.get("/console/factors/0").status_code == 422
    assert http.get("/console/entries/999999").status_code == 404
    assert http.get("/console/factors", params={"det": 999}).status_code == 422
