"""An export of numbers that are not up to date says so, on every surface, from the status
read (the one state the status pages show), and an up-to-date export says nothing.

Operator walk: the IT factor was revised (uploaded without recalculating). Exporting 2025
answered 200 with the old numbers and no word of it: the API's headers named only the last
recalculation job, ``carbon export`` printed "reflects recalculation job N", the console's
download links were plain links. The file went to the university's reporting as current.
Now the API sends ``X-Carbon-Up-To-Date: false`` with the stale types, ``carbon export``
warns on stderr (and ``--json`` carries it), the console shows the warning beside the
links; before the change and after the recalculation, none of them warns.

Real uploads and recalculations on the suite's worker (PostgreSQL, Redis); the API and the
console over HTTP on the live server, the CLI in process.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_domain.db.session import session_scope
from carbon_domain.formula_versions import formula_versions
from carbon_tasks import operations as ops
from tests.integration.helpers import UNITS_CSV, jobs_of, wait_pipeline

from .support import EQUIPMENT, F_HEADER, IT, SCIENTIFIC, YEAR, run, seed_equipment, sign_in

pytestmark = pytest.mark.integration

runner = CliRunner()
NEW_IT_FACTOR = F_HEADER + "Laptop,Standard,100,10,0.3\n"  # 0.1 → 0.3 kg per kWh
PURCHASE = 5
SERVICES = 64
PURCHASE_FACTORS = ("purchase_institutional_code,currency,ef_kg_co2eq_per_currency\n"
                    "12000000,eur,0.5\n")
PURCHASE_HEADER = "unit_institutional_id,purchase_institutional_code,total_spent_amount,currency\n"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _export(http: httpx.Client, token: str, path: str) -> httpx.Response:
    r = http.get(f"/v1/exports/{path}", params={"year": YEAR}, headers=_bearer(token))
    assert r.status_code == 200, r.text
    return r


def _status(http: httpx.Client, token: str) -> dict[tuple[int, int], dict[str, Any]]:
    r = http.get("/v1/sync/recalculation-status", params={"year": YEAR},
                 headers=_bearer(token))
    assert r.status_code == 200, r.text
    return {(m["module_type_id"], t["data_entry_type_id"]): t
            for m in r.json() for t in m["data_entry_types"]}


def _cli(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    """``carbon export … --json``: (its JSON, its stderr); exit code 0."""
    out = tmp_path / "export.csv"
    r = runner.invoke(cli_app, ["export", *args, "-y", str(YEAR), "-o", str(out), "--json"])
    assert r.exit_code == 0, (r.stdout, r.stderr, r.exception)
    return json.loads(r.stdout), " ".join(r.stderr.split())


def _cli_human(tmp_path: Path, *args: str) -> tuple[str, str]:
    out = tmp_path / "export-human.csv"
    r = runner.invoke(cli_app, ["export", *args, "-y", str(YEAR), "-o", str(out)],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, (r.stdout, r.stderr, r.exception)
    return " ".join(r.stdout.split()), " ".join(r.stderr.split())


def _warnings(html: str) -> dict[str, str]:
    """The console's export warnings on a page: {which export: its text}."""
    return {k: " ".join(re.sub(r"<[^>]+>", "", v).split())
            for k, v in re.findall(r'data-export-warning="([^"]+)"[^>]*>(.*?)</p>', html, re.S)}


def _kg(body: str) -> float:
    return sum(float(r["kg_co2eq"]) for r in csv.DictReader(io.StringIO(body)))


def _assert_up_to_date(http: httpx.Client, tokens: dict[str, str], tmp_path: Path) -> None:
    for path in ("results.csv", f"data/{IT}.csv", f"data/{SCIENTIFIC}.csv"):
        r = _export(http, tokens["viewer"], path)
        assert r.headers["x-carbon-up-to-date"] == "true", path
        for h in ("x-carbon-stale-types", "x-carbon-stale-modules", "x-carbon-export-warning"):
            assert h not in r.headers, (path, h, r.headers[h])
    for args in (["results"], ["data", "it"]):
        out, err = _cli(tmp_path, *args)
        assert out["up_to_date"] is True and out["warning"] is None, out
        assert out["stale_types"] == [] and out["stale_modules"] == [], out
        assert err == "", err
        human, err = _cli_human(tmp_path, *args)
        assert "reflects recalculation job" in human and err == "", (human, err)
    page = http.get(f"/console/data/{YEAR}").text
    assert "Download results.csv" in page and f'id="export-{IT}"' in page
    assert _warnings(page) == {}, _warnings(page)
    assert _warnings(http.get(f"/console/reports?year={YEAR}").text) == {}


def test_exports_say_which_types_are_not_up_to_date_until_they_are_recalculated(
        server: str, http: httpx.Client, tokens: dict[str, str], tmp_path: Path) -> None:
    seed_equipment(entries_per_type=10)
    sign_in(http, tokens["viewer"])

    # Before the change: every surface exports without a word.
    _assert_up_to_date(http, tokens, tmp_path)
    before = _export(http, tokens["viewer"], f"data/{IT}.csv").text

    # The IT factor is revised; nobody recalculates yet.
    assert run(ops.start_upload("factors", NEW_IT_FACTOR.encode(), module=EQUIPMENT, det=IT,
                                year=YEAR, created_by="alice")) == "SUCCESS"
    it = _status(http, tokens["viewer"])[(EQUIPMENT, IT)]
    assert it["state"] == "needs_recalculation" and it["reasons"], it
    assert _status(http, tokens["viewer"])[(EQUIPMENT, SCIENTIFIC)]["state"] == "up_to_date"

    # API: still 200 with the old numbers (the CSV body unchanged), and the headers say so.
    for path in ("results.csv", f"data/{IT}.csv"):
        r = _export(http, tokens["viewer"], path)
        assert r.headers["x-carbon-up-to-date"] == "false", path
        assert r.headers["x-carbon-stale-types"] == "it", path
        assert "x-carbon-stale-modules" not in r.headers
        assert r.headers["x-carbon-export-warning"] == (
            f"1 type of {YEAR} is not up to date: it (needs_recalculation)"), path
        assert r.headers["x-carbon-last-recalculation-job"].isdigit()
    assert _export(http, tokens["viewer"], f"data/{IT}.csv").text == before
    sci = _export(http, tokens["viewer"], f"data/{SCIENTIFIC}.csv")  # another type: current
    assert sci.headers["x-carbon-up-to-date"] == "true"
    assert "x-carbon-export-warning" not in sci.headers
    # The console's downloads are the same streams: the same headers.
    r = http.get("/console/exports/results.csv", params={"year": YEAR})
    assert r.status_code == 200 and r.headers["x-carbon-stale-types"] == "it"

    # CLI: a warning on stderr naming the type and why (the status read's reasons), exit 0;
    # --json carries it.
    sentence = f"⚠ 1 type of {YEAR} is not up to date: IT (needs recalculation: "
    for args in (["results"], ["data", "it"]):
        out, err = _cli(tmp_path, *args)
        assert out["up_to_date"] is False
        (t,) = out["stale_types"]
        assert (t["data_entry_type_id"], t["data_entry_type_name"], t["state"]) == (
            IT, "it", "needs_recalculation")
        assert t["reasons"] == it["reasons"]  # the status read's own words
        assert out["warning"].startswith(sentence) and it["reasons"][0] in out["warning"]
        assert err.startswith(sentence), err
        human, err = _cli_human(tmp_path, *args)
        assert "reflects recalculation job" in human and err.startswith(sentence), err
    out, err = _cli(tmp_path, "data", "scientific")
    assert out["up_to_date"] is True and err == ""

    # Console: the warning beside the links, before any click.
    page = http.get(f"/console/data/{YEAR}").text
    warned = _warnings(page)
    assert warned["results"].startswith(sentence), warned
    assert warned[str(IT)].startswith(sentence), warned
    assert str(SCIENTIFIC) not in warned
    report = _warnings(http.get(f"/console/reports?year={YEAR}&unit=LAB-A").text)
    assert report["results"].startswith(sentence), report

    # After the recalculation: the new numbers, and no warning anywhere.
    assert run(ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR,
                                         created_by="alice")) == "SUCCESS"
    after = _export(http, tokens["viewer"], f"data/{IT}.csv").text
    assert _kg(after) == pytest.approx(3 * _kg(before))
    _assert_up_to_date(http, tokens, tmp_path)


def test_a_formula_change_is_named_on_the_export(
        server: str, http: httpx.Client, tokens: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seed_equipment(entries_per_type=5, types=(IT,))
    sign_in(http, tokens["viewer"])
    r = _export(http, tokens["viewer"], f"data/{IT}.csv")
    assert r.headers["x-carbon-up-to-date"] == "true"

    monkeypatch.setitem(formula_versions, IT, "2026.12-1")  # a deploy changing one formula
    r = _export(http, tokens["viewer"], f"data/{IT}.csv")
    assert (r.headers["x-carbon-up-to-date"], r.headers["x-carbon-stale-types"]) == (
        "false", "it")
    out, err = _cli(tmp_path, "data", "it")
    assert out["stale_types"][0]["reasons"] == [
        "formula for IT changed (2026.11-1 → 2026.12-1)"]
    assert "formula for IT changed (2026.11-1 → 2026.12-1)" in err, err

    assert run(ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR,
                                         created_by="t")) == "SUCCESS"
    r = _export(http, tokens["viewer"], f"data/{IT}.csv")
    assert r.headers["x-carbon-up-to-date"] == "true"
    assert "x-carbon-export-warning" not in r.headers


def _purchase(rows: str) -> tuple[str, list[Any]]:
    acc = ops.start_upload("data-entries", (PURCHASE_HEADER + rows).encode(), module=PURCHASE,
                           det=SERVICES, year=YEAR, created_by="alice")
    assert acc.pipeline_id
    return wait_pipeline(acc.pipeline_id).status, jobs_of(acc.pipeline_id)


def test_results_of_a_module_whose_totals_were_not_updated_say_so(
        server: str, http: httpx.Client, tokens: dict[str, str], tmp_path: Path) -> None:
    """A module's last aggregation failed ("✗ totals not updated"): results.csv (its
    numbers are the stats) names the module; the type's rows are current, so its detailed
    export does not."""
    for acc in (ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="seed"),
                ops.start_upload("factors", PURCHASE_FACTORS.encode(), module=PURCHASE,
                                 det=SERVICES, year=YEAR, created_by="seed")):
        assert acc.pipeline_id and wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    assert _purchase("UA,12000000,1000,chf\n")[0] == "SUCCESS"
    sign_in(http, tokens["viewer"])
    assert _export(http, tokens["viewer"], "results.csv").headers["x-carbon-up-to-date"] == \
        "true"

    # Each entry finite (about 5e307 kg), Lab A's sum of them not: the aggregation fails.
    # Uploads refuse such amounts; data loaded before that limit may hold them, so they are
    # given in place, and the operator recalculates.
    assert _purchase("UA,12000000,1000,chf\n" * 6 + "UB,12000000,1000,chf\n")[0] == "SUCCESS"
    with session_scope() as s:
        assert s.execute(text(
            "UPDATE data_entries d SET data = jsonb_set(d.data, '{total_spent_amount}',"
            " to_jsonb(1e308::float8)) FROM units u WHERE u.id = d.unit_id"
            " AND u.institutional_id = 'UA' AND d.data_entry_type_id = :det AND d.year = :y"),
            {"det": SERVICES, "y": YEAR}).rowcount == 6
    acc = ops.trigger_recalculation(module=PURCHASE, det=SERVICES, year=YEAR,
                                    created_by="alice")
    assert acc.pipeline_id
    status, jobs = wait_pipeline(acc.pipeline_id).status, jobs_of(acc.pipeline_id)
    assert status == "PARTIAL", [(j.job_type, j.result, j.status_message) for j in jobs]
    agg = next(j for j in jobs if j.job_type == "aggregation")
    assert agg.result == "ERROR"

    r = _export(http, tokens["viewer"], "results.csv")
    assert r.headers["x-carbon-up-to-date"] == "false"
    assert r.headers["x-carbon-stale-modules"] == "purchase"
    assert "x-carbon-stale-types" not in r.headers
    assert r.headers["x-carbon-export-warning"] == (
        f"the totals of {YEAR} were not updated: purchase (failed)")
    data = _export(http, tokens["viewer"], f"data/{SERVICES}.csv")
    assert data.headers["x-carbon-up-to-date"] == "true"

    out, err = _cli(tmp_path, "results")
    (m,) = out["stale_modules"]
    assert (m["module_type_id"], m["module_name"], m["state"], m["state_label"]) == (
        PURCHASE, "purchase", "failed", "✗ totals not updated")
    assert m["reason"].startswith(f"aggregation #{agg.id} failed: the purchase total of unit"
                                  " Lab A (UA)"), m
    want = (f"⚠ the totals of {YEAR} were not updated: Purchase (aggregation #{agg.id} failed:"
            " the purchase total of unit Lab A (UA)")
    assert out["warning"].startswith(want) and err.startswith(want), err

    warned = _warnings(http.get(f"/console/data/{YEAR}").text)
    assert warned["results"].startswith(want), warned
    assert str(SERVICES) not in warned

    # Corrected entries aggregate: nothing to say any more.
    assert _purchase("UA,12000000,2000,chf\nUB,12000000,1000,chf\n")[0] == "SUCCESS"
    r = _export(http, tokens["viewer"], "results.csv")
    assert r.headers["x-carbon-up-to-date"] == "true"
    assert "x-carbon-export-warning" not in r.headers
    assert _warnings(http.get(f"/console/data/{YEAR}").text) == {}
