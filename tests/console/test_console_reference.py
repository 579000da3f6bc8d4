"""The console's reference cards upload sets like the API: a *Mode* select (replace, the
default, or merge) on the stations, building rooms and exchange rates cards, honoured by
the upload (fails on the code before: no select; every upload only added), and the rows
an exchange-rates file has refused named on the pipeline's details."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from sqlalchemy import text

from carbon_domain.db.session import session_scope

from .support import YEAR, sign_in, wait_pipeline

pytestmark = pytest.mark.integration
ST = "name,latitude,longitude,country_code\n"


def _upload(http: httpx.Client, csrf: str, body: str, **mode: str) -> None:
    r = http.post("/console/upload", headers={"X-CSRF-Token": csrf},
                  data={"kind": "stations", "year": str(YEAR), **mode},
                  files={"file": ("stations.csv", body, "text/csv")})
    assert r.status_code == 200 and "stations upload accepted" in r.text, r.text
    pid = re.search(r'data-pipeline="([0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
    assert wait_pipeline(pid) == "SUCCESS"


def _live() -> set[str]:
    with session_scope() as s:
        return set(s.execute(text(
            "SELECT name FROM stations WHERE retired_by_job_id IS NULL")).scalars())


def test_reference_cards_replace_or_merge(http: httpx.Client, tokens: dict[str, str]) -> None:
    csrf = sign_in(http, tokens["operator"])
    page = http.get(f"/console/data/{YEAR}").text
    for kind in ("stations", "building-rooms", "exchange-rates"):
        card = page.split(f'id="card-ref-{kind}"')[1].split("</form>")[0]
        assert f'<select id="mode-ref-{kind}" name="mode">' in card
        assert card.index('value="replace"') < card.index('value="merge"')
    assert 'name="mode"' not in page.split('id="card-ref-units"')[1].split("</form>")[0]

    _upload(http, csrf, ST + "Nyon,46.38,6.24,CH\nRolle,46.46,6.34,CH\n")
    _upload(http, csrf, ST + "Morges,46.51,6.5,CH\n", mode="merge")
    assert _live() == {"Nyon", "Rolle", "Morges"}
    _upload(http, csrf, ST + "Morges,46.51,6.5,CH\n", mode="replace")
    assert _live() == {"Morges"}


def test_exchange_rates_card_names_refused_rows(http: httpx.Client,
                                                tokens: dict[str, str]) -> None:
    """A rate for year 1999 or for currency ``xyz`` is a skipped row, named on the pipeline's
    details with its reason; a replace file of such rows only fails and changes nothing.
    Before: both were stored as live rates and the upload succeeded."""
    csrf = sign_in(http, tokens["operator"])

    def upload(body: str) -> tuple[str, str]:
        r = http.post("/console/upload", headers={"X-CSRF-Token": csrf},
                      data={"kind": "exchange-rates", "year": str(YEAR)},
                      files={"file": ("rates.csv", body, "text/csv")})
        assert r.status_code == 200 and "upload accepted" in r.text, r.text
        pid = re.search(r'data-pipeline="([0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
        return wait_pipeline(pid), html.unescape(http.get(f"/console/pipelines/{pid}").text)

    def rates() -> list[tuple[object, ...]]:
        with session_scope() as s:
            return [tuple(r) for r in s.execute(text(
                "SELECT year, currency, rate_to_eur, retired_by_job_id FROM exchange_rates"
                " ORDER BY year, currency"))]

    rates_csv = "year,currency,rate_to_eur\n"
    status, page = upload(rates_csv + "1999,usd,0.8\n2025,xyz,2\n2025,usd,0.6\n")
    assert status == "SUCCESS" and "Row errors" in page
    assert "year: 1999 is not a reporting year (2000-2100)" in page
    assert "currency: 'xyz' is not one of eur, chf, usd" in page
    assert rates() == [(2025, "usd", 0.6, None)]
    status, page = upload(rates_csv + "1999,usd,0.8\n2025,xyz,2\n")
    assert status != "SUCCESS" and "year: 1999 is not a reporting year" in page
    assert rates() == [(2025, "usd", 0.6, None)]
