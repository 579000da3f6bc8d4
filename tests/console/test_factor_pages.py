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
from tests.integration.api_support import wait_idle

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


def _ef() -> float:
    with session_scope() as s:
        return float(s.execute(text(
            "SELECT (\"values\"->>'ef_kg_co2eq_per_kwh')::float FROM factors")).scalar_one())


def test_revert_from_the_pipeline_details(server: str, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=4, types=(IT,))
    acc = ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.3\n").encode(),
                           module=EQUIPMENT, det=IT, year=YEAR, created_by="reviser")
    assert run(acc) == "SUCCESS" and _ef() == 0.3
    with session_scope() as s:
        (job,) = s.execute(text("SELECT max(id) FROM data_ingestion_jobs"
                                " WHERE job_type = 'factor_ingest'")).one()
    with httpx.Client(base_url=server, timeout=30) as viewer:
        csrf = sign_in(viewer, tokens["viewer"])
        detail = viewer.get(f"/console/pipelines/{acc.pipeline_id}")
        assert re.search(r'<button type="submit" class="danger" disabled aria-disabled="true">'
                         r"Revert this factor upload</button>", detail.text), detail.text
        r = viewer.post(f"/console/uploads/{job}/revert", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 403
    with httpx.Client(base_url=server, timeout=30) as op:
        csrf = sign_in(op, tokens["operator"])
        detail = op.get(f"/console/pipelines/{acc.pipeline_id}")
        assert f'hx-post="/console/uploads/{job}/revert"' in detail.text
        # Without the CSRF token: refused.
        assert op.post(f"/console/uploads/{job}/revert").status_code == 403
        r = op.post(f"/console/uploads/{job}/revert", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
        pid = re.search(r'data-pipeline="([0-9a-f-]{36})"', r.text)
        assert pid, r.text
        from .support import wait_pipeline
        assert wait_pipeline(pid.group(1)) == "SUCCESS"
        assert _ef() == 0.1
        # Again: it was reverted already (409 names the revert).
        r = op.post(f"/console/uploads/{job}/revert", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 409 and f"job {job} was reverted already, by job" in r.text
    wait_idle()
