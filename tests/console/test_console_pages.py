"""Console pages with data: staleness reasons as operators read them, escaping of every
user-supplied string, and a fuzz of every console form post (never a 500)."""

from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbon_tasks import operations as ops
from tests.integration.api_support import wait_idle

from .support import (
    E_HEADER,
    EQUIPMENT,
    F_HEADER,
    IT,
    SCIENTIFIC,
    UNITS_CSV,
    YEAR,
    run,
    seed_equipment,
    sign_in,
    wait_pipeline,
)

pytestmark = pytest.mark.integration
XSS_NAME = '<script>window.__xss=1</script>'
ATTR_NAME = '" onmouseover="window.__xss=2'


def _pipeline_of(html: str) -> str:
    return re.search(r'data-pipeline="([0-9a-f-]{36})"', html).group(1)


def test_factor_upload_makes_the_type_stale_with_its_reason(http: httpx.Client,
                                                            tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=20)
    csrf = sign_in(http, tokens["operator"])
    page = http.get(f"/console/data/{YEAR}").text
    assert "needs recalculation" not in page.split('id="module-4"')[1].split("</section>")[0]
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf},
                  data={"kind": "factors", "year": str(YEAR), "module": "4", "det": str(IT)},
                  files={"file": ("it.csv", F_HEADER + "Laptop,Standard,100,10,0.3\n",
                                  "text/csv")})
    assert r.status_code == 200 and "factors upload accepted" in r.text
    assert wait_pipeline(_pipeline_of(r.text)) == "SUCCESS"
    module = http.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}").text
    it_row = module.split(f'id="type-{IT}"')[1].split("</tr>")[0]
    sci_row = module.split(f'id="type-{SCIENTIFIC}"')[1].split("</tr>")[0]
    assert "needs recalculation" in it_row and "needs recalculation" not in sci_row
    reason = re.search(r"<div class=\"reason\" data-reason>([^<]+)</div>", it_row).group(1)
    assert re.fullmatch(r"factor upload #\d+ of \d{4}-\d\d-\d\d \d\d:\d\d by ops-alice is newer "
                        r"than recalculation #\d+", reason), reason
    # The dialog pre-checks the stale type only, with its reason and entry count.
    dialog = http.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}/recalculate").text
    assert re.search(rf'value="{IT}" data-stale="1"\s+checked', dialog)
    assert re.search(rf'value="{SCIENTIFIC}" data-stale="0"\s+>', dialog)
    assert "20 entries to recalculate" in dialog and "All types are up to date" not in dialog


def test_user_supplied_strings_are_shown_as_text(http: httpx.Client,
                                                 tokens: dict[str, str]) -> None:
    units = ("institutional_code,institutional_id,name,level,parent_institutional_code\n"
             f'LAB-X,UX,"{XSS_NAME}",4,\nLAB-Y,UY,"{ATTR_NAME.replace(chr(34), chr(34) * 2)}"'
             ",4,\n")
    csrf = sign_in(http, tokens["operator"])
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf},
                  data={"kind": "units", "year": str(YEAR)},
                  files={"file": ("<img src=x onerror=alert(1)>.csv", units, "text/csv")})
    assert r.status_code == 200, r.text
    assert wait_pipeline(_pipeline_of(r.text)) == "SUCCESS"
    for code in ("LAB-X", "LAB-Y"):
        page = http.get("/console/reports", params={"year": YEAR, "unit": code}).text
        assert "<script>window.__xss" not in page and 'onmouseover="window' not in page
    page = http.get("/console/reports", params={"year": YEAR, "unit": "LAB-X"}).text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    page = http.get("/console/reports", params={"year": YEAR, "unit": "LAB-Y"}).text
    assert "&#34; onmouseover=&#34;window.__xss=2" in page
    # Row-error texts quote the bad input: escaped in the card and the pipeline detail.
    bad = E_HEADER + f"UX,E1,{XSS_NAME},Laptop,Standard,10,20\n<b>nope</b>,E2,x,Laptop,,1,1\n"
    assert run(ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.1\n").encode(),
                                module=4, det=IT, year=YEAR, created_by="t")) == "SUCCESS"
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf},
                  data={"kind": "data-entries", "year": str(YEAR), "module": "4",
                        "det": str(IT)}, files={"file": ("e.csv", bad, "text/csv")})
    pid = _pipeline_of(r.text)
    wait_pipeline(pid)
    detail = http.get(f"/console/pipelines/{pid}").text
    assert "<b>nope</b>" not in detail and "&lt;b&gt;nope&lt;/b&gt;" in detail
    pipelines = http.get("/console/pipelines").text
    assert "<img src=x" not in pipelines


FIELD = st.one_of(st.none(), st.text(max_size=30), st.integers(-5, 3000).map(str),
                  st.sampled_from(["factors", "data-entries", "units", "stations",
                                   "building-rooms", "exchange-rates", "on", "2025", "4",
                                   "11", "all", "stale", "selected"]))
CSV = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                st.just(b"name,latitude,longitude,country_code\nX,1,2,CH\n"),
                st.just((F_HEADER + "Laptop,Standard,1,1,0.1\n").encode()))
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _form(fields: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if v is not None}


@pytest.fixture
def operator(http: httpx.Client, tokens: dict[str, str]) -> tuple[httpx.Client, str]:
    return http, sign_in(http, tokens["operator"])


@FUZZ
@given(kind=FIELD, year=FIELD, module=FIELD, det=FIELD, recalc=FIELD, body=CSV,
       filename=st.text(max_size=40), with_file=st.booleans())
def test_fuzz_upload_form(operator: tuple[httpx.Client, str], kind: str | None,
                          year: str | None, module: str | None, det: str | None,
                          recalc: str | None, body: bytes, filename: str,
                          with_file: bool) -> None:
    http, csrf = operator
    files = {"file": (filename or "f.csv", body, "text/csv")} if with_file else None
    data = _form({"kind": kind, "year": year, "module": module, "det": det,
                  "recalculate": recalc, "csrf_token": csrf})
    r = http.post("/console/upload", data=data, files=files)
    assert r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("text/html")


@FUZZ
@given(year=st.integers(1990, 2110), module=st.integers(0, 10), mode=FIELD,
       dets=st.lists(FIELD, max_size=4), det=st.integers(0, 120))
def test_fuzz_recalculation_forms(operator: tuple[httpx.Client, str], year: int, module: int,
                                  mode: str | None, dets: list[str | None], det: int) -> None:
    http, csrf = operator
    data: dict[str, object] = _form({"mode": mode, "csrf_token": csrf})
    data["det"] = [d for d in dets if d is not None]
    r = http.post(f"/console/data/{year}/modules/{module}/recalculate", data=data)
    assert r.status_code < 500, r.text
    r = http.post(f"/console/data/{year}/modules/{module}/types/{det}/recalculate",
                  data={"csrf_token": csrf})
    assert r.status_code < 500, r.text


@FUZZ
@given(pid=st.one_of(st.uuids().map(str), st.text(max_size=50)), q=st.dictionaries(
    st.sampled_from(["status", "kind", "module", "year", "has_errors", "created_after",
                     "created_before", "created_by", "page", "focus"]),
    st.text(max_size=30), max_size=6), token=st.text(max_size=80))
def test_fuzz_pipelines_and_login(operator: tuple[httpx.Client, str], pid: str,
                                  q: dict[str, str], token: str) -> None:
    http, csrf = operator
    from urllib.parse import quote
    safe = quote(pid, safe="") or "x"
    for r in (http.get("/console/pipelines", params=q),
              http.get(f"/console/pipelines/{safe}"),
              http.post(f"/console/pipelines/{safe}/abort", data={"csrf_token": csrf}),
              http.post(f"/console/pipelines/{safe}/recover",
                        data={"csrf_token": csrf}),
              http.get(f"/console/pipelines/{safe}/upload"),
              http.get("/console/reports", params={"year": q.get("year", "2025"),
                                                   "unit": token[:60]}),
              http.post("/login", data={"token": token, "login_csrf": token[:10]})):
        assert r.status_code < 500, (r.request.url, r.text)
    wait_idle()


def test_data_card_names_types_without_factors_and_incomplete_tag(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    assert run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR,
                                created_by="t")) == "SUCCESS"
    csrf = sign_in(http, tokens["operator"])
    page = http.get(f"/console/data/{YEAR}").text
    note = re.search(r'id="nofactors-4">([^<]+)<', page).group(1)
    assert "No factors for 2025 yet for: Scientific, IT, Other" in note
    # Entries of a type with no factors for the year: the type is tagged incomplete.
    body = E_HEADER + "UA,I-1,Laptop,Laptop,Standard,40,128\n"
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf},
                  data={"kind": "data-entries", "year": str(YEAR), "module": "4",
                        "det": str(IT)}, files={"file": ("it.csv", body, "text/csv")})
    pid = _pipeline_of(r.text)
    wait_pipeline(pid)
    row = http.get(f"/console/data/{YEAR}/modules/4").text.split(f'id="type-{IT}"')[1]
    row = row.split("</tr>")[0]
    assert "incomplete" in row and "no live factors for 2025" in row
    # The uploaded file can be downloaded back from the pipelines page.
    r = http.get(f"/console/pipelines/{pid}/upload")
    assert r.status_code == 200 and r.text == body
    assert r.headers["content-disposition"] == ('attachment; filename="it.csv";'
                                                " filename*=UTF-8''it.csv")


def test_csv_downloads_are_the_api_exports_behind_the_session(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=12, types=(IT,))
    sign_in(http, tokens["viewer"])  # exports only read: viewers may download
    page = http.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}").text
    assert f'href="/console/exports/data/{IT}.csv?year={YEAR}"' in page
    r = http.get(f"/console/exports/data/{IT}.csv", params={"year": YEAR})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-carbon-last-recalculation-job"].isdigit()
    assert len(r.text.strip().splitlines()) == 1 + 12  # header + one row per entry
    r = http.get("/console/exports/results.csv", params={"year": YEAR, "unit": "LAB-A"})
    assert r.status_code == 200 and "LAB-A" in r.text
    r = http.get("/console/exports/results.csv", params={"year": 2031})
    assert r.status_code == 404 and "Export not available" in r.text
    assert r.headers["content-type"].startswith("text/html")


def test_factor_card_sends_the_chosen_mode(http: httpx.Client, tokens: dict[str, str]) -> None:
    from sqlalchemy import select

    from carbon_domain.db.models import DataIngestionJob
    from carbon_domain.db.session import session_scope

    seed_equipment(entries_per_type=5, types=(IT,))
    csrf = sign_in(http, tokens["operator"])
    for mode in ("merge", "replace"):
        r = http.post("/console/upload", headers={"X-CSRF-Token": csrf}, data={
            "kind": "factors", "year": str(YEAR), "module": "4", "det": str(IT), "mode": mode},
            files={"file": ("f.csv", F_HEADER + "Laptop,Standard,100,10,0.2\n", "text/csv")})
        assert r.status_code == 200, r.text
        wait_pipeline(_pipeline_of(r.text))
        with session_scope() as s:
            job = s.scalars(select(DataIngestionJob).where(
                DataIngestionJob.job_type == "factor_ingest")
                .order_by(DataIngestionJob.id.desc())).first()
            assert job.meta["config"]["mode"] == mode
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf}, data={
        "kind": "factors", "year": str(YEAR), "module": "4", "mode": "append"},
        files={"file": ("f.csv", F_HEADER + "Laptop,Standard,100,10,0.2\n", "text/csv")})
    assert r.status_code == 422 and "replace" in r.text
