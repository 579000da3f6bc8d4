"""The console's forms (console/forms.py): one dependency checks session, role and CSRF, the
typed form models answer with the sentences an operator has always been shown, and a
refused form writes nothing. Against the live server and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from carbon_domain.db.models import Pipeline
from carbon_domain.db.session import session_scope
from carbon_domain.settings import get_settings

from .support import F_HEADER, IT, YEAR, sign_in

pytestmark = pytest.mark.integration
CSV = ("f.csv", F_HEADER + "Laptop,Standard,100,10,0.1\n", "text/csv")
FACTORS = {"kind": "factors", "year": str(YEAR), "module": "4", "det": str(IT)}


def _pipelines() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Pipeline)) or 0)


@pytest.mark.parametrize("fields, with_file, sentence", [
    (FACTORS, False, "Choose a CSV file first (a file part named &#39;file&#39; is required)"),
    ({**FACTORS, "kind": "tables"}, True, "Unknown upload kind &#39;tables&#39;"),
    ({**FACTORS, "year": "twenty"}, True, "year, module and type must be whole numbers"),
    ({**FACTORS, "year": "1999"}, True, "A year between 2000 and 2100 is required"),
    ({"kind": "units"}, True, "A year between 2000 and 2100 is required"),
    ({**FACTORS, "module": ""}, True, "Choose a module"),
    ({**FACTORS, "det": "999"}, True, "Type 999 does not belong to module 4"),
    ({**FACTORS, "mode": "append"}, True, "The factor mode is “replace” or “merge”"),
])
def test_upload_form_problems_keep_their_sentence_and_write_nothing(
        http: httpx.Client, tokens: dict[str, str], fields: dict[str, str], with_file: bool,
        sentence: str) -> None:
    csrf = sign_in(http, tokens["operator"])
    before = _pipelines()
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf}, data=fields,
                  files={"file": CSV} if with_file else {"other": ("x", b"", "text/plain")})
    assert r.status_code == 422, r.text
    assert r.text.strip() == f'<p class="message error" role="alert">{sentence}</p>'
    assert _pipelines() == before


def test_a_type_of_another_module_is_the_domain_s_refusal(http: httpx.Client,
                                                          tokens: dict[str, str]) -> None:
    """The module/type check lives in the domain (operations.start_upload), not the form."""
    csrf = sign_in(http, tokens["operator"])
    before = _pipelines()
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf},
                  data={**FACTORS, "det": "20"}, files={"file": CSV})  # 20: a travel type
    assert r.status_code == 422 and "does not belong to module 4" in r.text, r.text
    r = http.post(f"/console/data/{YEAR}/modules/4/types/20/recalculate",
                  headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and "does not belong to module 4" in r.text, r.text
    assert _pipelines() == before


@pytest.mark.parametrize("data, sentence", [
    ({"mode": "selected"}, "Choose at least one type to recalculate"),
    ({"mode": "some"}, "Choose “only stale”, “all” or the checked types"),
    ({"mode": "selected", "det": ["10", "x"]}, "&#39;x&#39; is not a data entry type id"),
])
def test_recalculation_dialog_problems_keep_their_sentence(
        http: httpx.Client, tokens: dict[str, str], data: dict[str, object],
        sentence: str) -> None:
    csrf = sign_in(http, tokens["operator"])
    before = _pipelines()
    r = http.post(f"/console/data/{YEAR}/modules/4/recalculate", data=data,
                  headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422, r.text
    assert r.text.strip() == f'<p class="message error" role="alert">{sentence}</p>'
    assert _pipelines() == before


def test_the_role_is_checked_before_an_upload_is_read(http: httpx.Client,
                                                      tokens: dict[str, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 1000)
    big = {"file": ("f.csv", F_HEADER + "x" * 5000, "text/csv")}
    with httpx.Client(base_url=str(http.base_url), timeout=30) as viewer:
        csrf = sign_in(viewer, tokens["viewer"])
        r = viewer.post("/console/upload", headers={"X-CSRF-Token": csrf}, data=FACTORS,
                        files=big)
    assert r.status_code == 403 and "needs role operator" in r.text, r.text
    csrf = sign_in(http, tokens["operator"])
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf}, data=FACTORS, files=big)
    assert r.status_code == 413 and "larger than the limit of 1000 bytes" in r.text, r.text
    assert r.headers["content-type"].startswith("text/html")
    # A CSRF token in the form (no JavaScript) passes as the header does.
    r = http.post("/console/upload", data={**FACTORS, "csrf_token": csrf},
                  files={"file": CSV})
    assert r.status_code in (200, 409), r.text  # 409: no units for the year yet
    assert "CSRF" not in r.text
