"""The upload card's "Allow unknown columns" checkbox: a file whose column looks like a
misspelling is refused from the console as from the API (nothing written), and loaded with
its ignored columns leading the card's message once the box is ticked."""

from __future__ import annotations

import contextlib
import re

import httpx
import pytest

from carbon_tasks import operations as ops
from tests.integration.api_support import row_counts

from .support import E_HEADER, F_HEADER, IT, UNITS_CSV, YEAR, run, sign_in, wait_pipeline

pytestmark = pytest.mark.integration


def test_the_checkbox_lets_a_misspelt_column_through(http: httpx.Client,
                                                     tokens: dict[str, str]) -> None:
    assert run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="t")) \
        == "SUCCESS"
    assert run(ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.1\n").encode(),
                                module=4, det=IT, year=YEAR, created_by="t")) == "SUCCESS"
    csrf = sign_in(http, tokens["operator"])
    page = http.get(f"/console/data/{YEAR}").text
    assert 'name="allow_unknown_columns" id="unknown-data-4"' in page
    assert 'name="allow_unknown_columns" id="unknown-factors-4"' in page
    assert 'name="allow_unknown_columns" id="unknown-ref-stations"' in page
    body = E_HEADER.replace("standby_usage_hours_per_week", "standby_usage_hours_per_wk") + (
        "UA,E1,Laptop 1,Laptop,Standard,40,100\n")
    form = {"kind": "data-entries", "year": str(YEAR), "module": "4", "det": str(IT),
            "card": "data-4"}
    before = row_counts()
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf}, data=form,
                  files={"file": ("e.csv", body, "text/csv")})
    assert r.status_code == 400, r.text
    assert "did you mean &#39;standby_usage_hours_per_week&#39;?" in r.text
    assert row_counts() == before
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf},
                  data={**form, "allow_unknown_columns": "on"},
                  files={"file": ("e.csv", body, "text/csv")})
    assert r.status_code == 200, r.text
    pid = re.search(r'data-pipeline="([0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
    wait_pipeline(pid)
    card = http.get(f"/console/pipelines/{pid}").text
    assert "WARNING: 1 column ignored: &#39;standby_usage_hours_per_wk&#39;" in card


def test_live_streams_are_capped_per_session(http: httpx.Client, tokens: dict[str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from carbon_domain.settings import get_settings

    monkeypatch.setattr(get_settings(), "sse_max_streams", 2)
    sign_in(http, tokens["viewer"])
    readers = []
    with contextlib.ExitStack() as open_streams:
        for _ in range(2):
            r = open_streams.enter_context(http.stream("GET", f"/console/events?year={YEAR}"))
            assert r.status_code == 200
            readers.append(r.iter_lines())  # kept: a dropped reader closes its connection
        refused = http.get(f"/console/events?year={YEAR}")
        assert refused.status_code == 429, refused.text
        assert "at most 2" in refused.text
