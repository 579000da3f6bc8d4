"""An export says when a type's last recalculation failed without rewriting a number: the
file holds the numbers of the run before, which is true, and is now said.

Operator walk: IT is up to date; an operator recalculates it again and the run is aborted
before any chunk ran. The status pages show IT "✗ last run failed" (not stale: its inputs
were read by the run before, and nothing was rewritten). Before, exporting said nothing of it:
``X-Carbon-Up-To-Date: true`` and no warning header, ``carbon export`` silent, no line beside
the console's download links, as if the last run had been the good one. Now every surface
that shows the export warning names it with its own words ("1 type of 2025 kept its
numbers: IT (last recalculation failed; numbers are from the run before: recalculation #N
aborted by alice before any chunk ran — no numbers rewritten)"); the file is still up to date
with its inputs (``X-Carbon-Up-To-Date: true``, no stale type). After a good recalculation no
surface says anything.

Real uploads, recalculations and an abort on the suite's worker (PostgreSQL, Redis); the API
and the console over HTTP on the live server, the CLI in process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_domain.db.session import session_scope
from carbon_domain.services.exports.freshness import FAILED_KEPT, export_freshness
from carbon_tasks import operations as ops
from tests.integration.test_staleness_landed_inputs import held

from .support import EQUIPMENT, IT, SCIENTIFIC, YEAR, run, seed_equipment, sign_in

pytestmark = pytest.mark.integration
runner = CliRunner()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _warnings(html: str) -> dict[str, str]:
    """The console's export warnings on a page: {which export: its text}."""
    return {k: " ".join(re.sub(r"<[^>]+>", "", v).split())
            for k, v in re.findall(r'data-export-warning="([^"]+)"[^>]*>(.*?)</p>', html, re.S)}


def _cli(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    """``carbon export … --json``: (its JSON, its stderr); exit code 0."""
    out = tmp_path / "export.csv"
    r = runner.invoke(cli_app, ["export", *args, "-y", str(YEAR), "-o", str(out), "--json"])
    assert r.exit_code == 0, (r.stdout, r.stderr, r.exception)
    return json.loads(r.stdout), " ".join(r.stderr.split())


def _headers(http: httpx.Client, token: str, path: str) -> httpx.Headers:
    r = http.get(f"/v1/exports/{path}", params={"year": YEAR}, headers=_bearer(token))
    assert r.status_code == 200, r.text
    return r.headers


def _it_status(http: httpx.Client, token: str) -> dict[str, Any]:
    r = http.get("/v1/sync/recalculation-status", params={"year": YEAR},
                 headers=_bearer(token))
    assert r.status_code == 200, r.text
    (m,) = [m for m in r.json() if m["module_type_id"] == EQUIPMENT]
    return next(t for t in m["data_entry_types"] if t["data_entry_type_id"] == IT)


def _aborted_before_any_chunk(monkeypatch: pytest.MonkeyPatch) -> int:
    """A recalculation of IT requested and aborted by alice before the worker ran it."""
    with held(monkeypatch):
        acc = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR,
                                        created_by="alice")
    assert acc.pipeline_id
    result = ops.abort_pipeline(acc.pipeline_id, "alice")
    assert result["aborted_job_ids"], result
    return acc.job_id


def _quiet_everywhere(http: httpx.Client, tokens: dict[str, str], tmp_path: Path) -> None:
    for path in ("results.csv", f"data/{IT}.csv"):
        h = _headers(http, tokens["viewer"], path)
        assert h["x-carbon-up-to-date"] == "true", path
        assert "x-carbon-export-warning" not in h, (path, h.get("x-carbon-export-warning"))
    for args in (["results"], ["data", "it"]):
        out, err = _cli(tmp_path, *args)
        assert (out["up_to_date"], out["warning"], err) == (True, None, ""), (out, err)
    assert _warnings(http.get(f"/console/data/{YEAR}").text) == {}
    assert _warnings(http.get(f"/console/reports?year={YEAR}&unit=LAB-A").text) == {}


def test_an_export_names_a_type_whose_last_run_failed_without_rewriting(
        server: str, http: httpx.Client, tokens: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seed_equipment(entries_per_type=5, types=(SCIENTIFIC, IT))
    sign_in(http, tokens["viewer"])
    _quiet_everywhere(http, tokens, tmp_path)

    failed = _aborted_before_any_chunk(monkeypatch)
    it = _it_status(http, tokens["viewer"])
    why = f"recalculation #{failed} aborted by alice before any chunk ran — no numbers rewritten"
    # The status pages: failed, not stale (the run before read every input).
    assert (it["state"], it["needs_recalculation"], it["reasons"]) == ("failed", False, [why])

    sentence = f"⚠ 1 type of {YEAR} kept its numbers: IT ({FAILED_KEPT}: {why})"
    assert FAILED_KEPT == "last recalculation failed; numbers are from the run before"
    with session_scope() as s:
        for det in (None, IT):
            fresh = export_freshness(s, YEAR, det)
            assert (fresh.up_to_date, fresh.stale_types, fresh.stale_modules) == (True, [], [])
            assert fresh.warning == sentence, fresh.warning  # before: None
            assert [t.data_entry_type_id for t in fresh.failed_types] == [IT]
        # Another type's export is not concerned.
        assert export_freshness(s, YEAR, SCIENTIFIC).warning is None

    # API (and the console's downloads, the same streams): still up to date, and said.
    for path in ("results.csv", f"data/{IT}.csv"):
        h = _headers(http, tokens["viewer"], path)
        assert h["x-carbon-up-to-date"] == "true", path
        assert "x-carbon-stale-types" not in h and "x-carbon-stale-modules" not in h
        assert h["x-carbon-failed-types"] == "it", path
        assert h["x-carbon-export-warning"] == f"1 type of {YEAR} kept its numbers: it (failed)"
    assert "x-carbon-export-warning" not in _headers(http, tokens["viewer"],
                                                     f"data/{SCIENTIFIC}.csv")
    r = http.get("/console/exports/results.csv", params={"year": YEAR})
    assert r.status_code == 200
    assert r.headers["x-carbon-export-warning"] == f"1 type of {YEAR} kept its numbers: it (failed)"

    # CLI: the warning on stderr, and in --json.
    for args in (["results"], ["data", "it"]):
        out, err = _cli(tmp_path, *args)
        assert (out["up_to_date"], out["stale_types"], out["warning"]) == (True, [], sentence)
        assert [t["data_entry_type_id"] for t in out["failed_types"]] == [IT], out
        assert err == sentence, err
    out, err = _cli(tmp_path, "data", "scientific")
    assert (out["warning"], out["failed_types"], err) == (None, [], "")

    # Console: beside the links, before any click.
    warned = _warnings(http.get(f"/console/data/{YEAR}").text)
    assert warned.get("results", "").startswith(sentence), warned
    assert warned.get(str(IT)) == sentence, warned
    assert str(SCIENTIFIC) not in warned
    report = _warnings(http.get(f"/console/reports?year={YEAR}&unit=LAB-A").text)
    assert report.get("results", "").startswith(sentence), report

    # Retried: the last run is the good one, nothing to say.
    assert run(ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR,
                                         created_by="alice")) == "SUCCESS"
    assert _it_status(http, tokens["viewer"])["state"] == "up_to_date"
    _quiet_everywhere(http, tokens, tmp_path)
