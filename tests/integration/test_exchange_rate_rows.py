"""An exchange-rates upload refuses the rows no computation can read, row by row, like every
reference upload: a year outside the reporting years (2000-2100, the range the API, the
console and the CLI accept for a year) and a currency no entry or factor can be priced in
(``names.CURRENCIES``) are skipped with their reason, through the API, its preview and the
CLI; a replace file of such rows only is ERROR and changes nothing (nothing retired).

Before: ``1999,usd`` and ``2025,xyz`` were stored as live rates (the year rule was 1990-2100,
any three letters were a currency), the upload ended SUCCESS, and a replace file of them
retired every rate it did not name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from carbon_api.cli import app
from carbon_domain.db.session import session_scope

from .api_support import Tokens, upload, wait_job, wait_pipeline

pytestmark = pytest.mark.integration
PATH = "/v1/sync/reference/exchange-rates"
RATES = "year,currency,rate_to_eur\n"
GOOD = RATES + "2025,usd,0.5\n2025,gbp,1.2\n"
# Row 2: a year before the reporting years; 3: no such currency; 4: a rate that lands;
# 5: an infinite rate (kept alive: its stored rate is not retired); 6: upper case is fine.
MIXED = RATES + "1999,usd,0.8\n2025,xyz,2\n2025,usd,0.6\n2025,gbp,inf\n2024,CHF,1.1\n"
MIXED_ERRORS = [
    {"row": 2, "reason": "year: 1999 is not a reporting year (2000-2100)"},
    {"row": 3, "reason": "currency: 'xyz' is not one of eur, chf, usd, gbp, jpy, cad, aud,"
                         " cny, sek"},
    {"row": 5, "reason": "rate_to_eur: 'inf' is not a number"}]
ONLY_BAD = RATES + "1999,usd,0.8\n2025,xyz,2\n2101,chf,1\n"


def _rates() -> list[tuple[Any, ...]]:
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(
            "SELECT year, currency, rate_to_eur, retired_by_job_id, changed_by_job_id"
            " FROM exchange_rates ORDER BY year, currency"))]


def _live() -> dict[tuple[int, str], float]:
    return {(y, c): float(r) for y, c, r, retired, _ch in _rates() if retired is None}


def _done(api: TestClient, tokens: Tokens, body: str, **params: Any) -> dict[str, Any]:
    r = upload(api, PATH, body, tokens.op, **params)
    assert r.status_code == 202, r.text
    job = wait_job(api, r.json()["job_id"], tokens.op)
    wait_pipeline(api, r.json()["pipeline_id"], tokens.op)
    return job


def test_api_and_preview_skip_rates_of_no_reporting_year_or_currency(
        api: TestClient, tokens: Tokens) -> None:
    first = _done(api, tokens, GOOD)
    assert first["result"] == "SUCCESS", first["status_message"]
    before = _rates()

    # The preview reports the same row errors and writes nothing.
    r = upload(api, PATH, MIXED, tokens.op, preview="true")
    assert r.status_code == 202, r.text
    wait_pipeline(api, r.json()["pipeline_id"], tokens.op)
    p = api.get(f"/v1/sync/previews/{r.json()['preview_id']}", headers=tokens.view).json()
    assert p["state"] == "FINISHED" and p["result"] == "WARNING", p
    assert "first error: row 2: year: 1999 is not a reporting year" in p["message"], p
    previewed = wait_job(api, p["job_id"], tokens.op)
    assert previewed["meta"]["row_errors"] == MIXED_ERRORS
    assert _rates() == before

    # Applied: the good rows land, the bad ones are skipped and named, nothing else moves.
    job = _done(api, tokens, MIXED)
    assert job["result"] == "WARNING", job["status_message"]
    assert job["meta"]["row_errors"] == MIXED_ERRORS
    assert (job["meta"]["processed"], job["meta"]["skipped"]) == (2, 3)
    assert "first error: row 2: year: 1999 is not a reporting year" in job["status_message"]
    # GBP's row was refused, so its stored rate stays live (a typo retires nothing).
    assert _live() == {(2025, "usd"): 0.6, (2025, "gbp"): 1.2, (2024, "chf"): 1.1}

    # A replace file of refused rows only: ERROR, and the table is exactly as it was.
    before = _rates()
    bad = _done(api, tokens, ONLY_BAD)
    assert bad["result"] == "ERROR", bad["status_message"]
    assert [e["row"] for e in bad["meta"]["row_errors"]] == [2, 3, 4]
    assert bad["meta"]["row_errors"][2]["reason"] == (
        "year: 2101 is not a reporting year (2000-2100)")
    assert _rates() == before


def test_cli_names_the_refused_rows_and_writes_nothing(db: str, worker: Any,
                                                       tmp_path: Path) -> None:
    runner = CliRunner()
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD)
    bad.write_text(ONLY_BAD)
    ok = runner.invoke(app, ["ingest", "reference", "exchange-rates", str(good), "--wait"])
    assert ok.exit_code == 0, (ok.stdout, ok.stderr)
    before = _rates()
    out = runner.invoke(app, ["ingest", "reference", "exchange-rates", str(bad), "--wait"])
    assert out.exit_code == 2, (out.stdout, out.stderr)
    said = " ".join((out.stdout + out.stderr).split())
    assert "row 2: year: 1999 is not a reporting year (2000-2100)" in said, said
    assert _rates() == before
