"""`carbon entries REPORT MODULE` and `carbon explain ENTRY_ID` (carbon_api/cli/entries.py):
the API's drill-down and explain reads from the terminal, through CliRunner against the real
PostgreSQL database. `--json` is the API's very answer; the table shows each entry's kg and
factor or why it has none; paging by page and by keyset; a revised factor without
recalculation shows the stale stored row and the factor's new version; every user mistake is
one line on stderr with a non-zero exit and no traceback."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbon_api.cli import app
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.drilldown import find_report

from .api_support import Tokens
from .helpers import UNITS_CSV
from .test_ops_cli import assert_one_line_error, run_carbon
from .test_pipeline_guarantees import EQUIP_FACTORS, upload

pytestmark = pytest.mark.integration
runner = CliRunner()
YEAR = 2025
# (40 h × 100 W + 128 h × 10 W) × 52 weeks / 1000 × 0.1 kg CO2-eq/kWh: one laptop's kg.
LAPTOP_KG = (40 * 100 + 128 * 10) * 52 / 1000 * 0.1
ENTRIES_HEAD = ("unit_institutional_id,equipment_category,equipment_id,name,equipment_class,"
                "sub_class,active_usage_hours_per_week,standby_usage_hours_per_week\n")


def _times(v: Any) -> Any:
    """JSON with its ``…_at`` times parsed (the API writes UTC as ``Z``, the CLI as
    ``+00:00``)."""
    if isinstance(v, dict):
        return {k: datetime.fromisoformat(x) if k.endswith("_at") and isinstance(x, str)
                else _times(x) for k, x in v.items()}
    return [_times(x) for x in v] if isinstance(v, list) else v


def carbon(*args: Any, width: int = 120) -> Any:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(width)})


def ok(*args: Any, width: int = 120) -> str:
    r = carbon(*args, width=width)
    assert r.exit_code == 0, (r.stdout, r.stderr, r.exception)
    return str(r.stdout)


@pytest.fixture
def lab_a(db: str, worker: Any) -> int:
    """LAB-A's report of YEAR: 6 it entries (ids ascending), 5 laptops with a factor and a
    tablet that matches none; LAB-B has 5 laptops."""
    upload("units", UNITS_CSV, year=YEAR)
    upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=4, year=YEAR)
    rows = "".join(f"{'UA' if i % 2 else 'UB'},it,E{i},Laptop {i},Laptop,Standard,40,128\n"
                   for i in range(10)) + "UA,it,T1,Tablet,Tablet,,40,128\n"
    upload("data-entries", ENTRIES_HEAD + rows, module=4, det=11, year=YEAR,
           expect="SUCCESS")
    with session_scope() as s:
        found = find_report(s, unit_code="LAB-A", year=YEAR)
    assert found is not None
    return found.report_id


def test_entries_json_is_the_api_answer_and_the_table_says_the_same(
        lab_a: int, api: TestClient, tokens: Tokens) -> None:
    out = json.loads(ok("entries", "LAB-A/2025", "equipment", "--json", "--count"))
    r = api.get(f"/v1/reports/{lab_a}/modules/4/entries", params={"count": "true"},
                headers=tokens.view)
    assert r.status_code == 200
    assert out == r.json()
    assert out["total"] == 6 and len(out["items"]) == 6 and not out["has_more"]
    laptops = [e for e in out["items"] if e["emissions"]]
    assert len(laptops) == 5
    assert all(e["emissions"][0]["kg_co2eq"] == pytest.approx(LAPTOP_KG) for e in laptops)
    tablet = next(e for e in out["items"] if not e["emissions"])
    assert tablet["reason_kind"] == "no_matching_factor"

    # The same listing by report id, as a table: one line per entry with kg and factor.
    table = ok("entries", lab_a, 4)
    assert f"Report {lab_a} (LAB-A, {YEAR}) · equipment · page 1" in table
    for e in laptops:
        fid = e["emissions"][0]["factor_id"]
        assert re.search(rf"^\s*{e['id']}\s+it\s+{LAPTOP_KG:,.3f}\s+{fid}\s", table, re.M), table
    assert tablet["reason"] == "no factor for equipment_class='Tablet'"
    assert re.search(rf"^\s*{tablet['id']}\s+it\s+—\s+—\s+{re.escape(tablet['reason'])}", table,
                     re.M), table
    assert "More:" not in table


def test_entries_paging_and_filters(lab_a: int) -> None:
    every = [e["id"] for e in json.loads(ok("entries", lab_a, 4, "--json"))["items"]]
    first = json.loads(ok("entries", lab_a, "equipment", "-n", 4, "--json"))
    assert [e["id"] for e in first["items"]] == every[:4]
    assert first["has_more"] and first["next_after"] == every[3]
    table = ok("entries", lab_a, "equipment", "-n", 4)
    assert f"More: --page 2, or --after {every[3]}" in table
    # The count is of entries; the pages are of -n (it said "page 1 of 6" for 6 entries).
    assert "page 1 of 2 (6 entries)" in ok("entries", lab_a, "equipment", "-n", 4, "--count")
    by_page = json.loads(ok("entries", lab_a, 4, "-n", 4, "--page", 2, "--json"))
    by_key = json.loads(ok("entries", lab_a, 4, "-n", 4, "--after", every[3], "--json"))
    assert [e["id"] for e in by_page["items"]] == [e["id"] for e in by_key["items"]] == every[4:]
    assert not by_page["has_more"]
    missing = json.loads(ok("entries", lab_a, 4, "--missing", "--json"))
    assert [e["reason_kind"] for e in missing["items"]] == ["no_matching_factor"]
    with_rows = json.loads(ok("entries", lab_a, 4, "--with-rows", "--json", "--count"))
    assert with_rows["total"] == 5
    assert json.loads(ok("entries", lab_a, 4, "-d", "scientific", "--json"))["items"] == []
    assert "No entries match." in ok("entries", lab_a, 4, "-d", "scientific")
    it_only = json.loads(ok("entries", lab_a, 4, "-d", "it", "--emission-type", 80200,
                            "--json"))
    assert len(it_only["items"]) == 5


def test_explain_names_the_factor_version_the_upload_and_the_formula(
        lab_a: int, api: TestClient, tokens: Tokens) -> None:
    items = json.loads(ok("entries", lab_a, 4, "--with-rows", "--json"))["items"]
    entry, fid = items[0]["id"], items[0]["emissions"][0]["factor_id"]
    out = json.loads(ok("explain", entry, "--json"))
    api_answer = api.get(f"/v1/data-entries/{entry}/explain", headers=tokens.view).json()
    assert out["factors"][0]["set_by_filename"] == "upload.csv"
    assert out["factors"][0]["set_by_pipeline_id"]
    # Every published field is the API's (the CLI adds the upload's pipeline and file).
    published = {k: v for k, v in out.items() if k in api_answer}
    published["factors"] = [{k: v for k, v in f.items() if k in api_answer["factors"][0]}
                            for f in published["factors"]]
    assert _times(published) == _times(api_answer)
    table = ok("explain", entry, width=250)
    assert f"Entry {entry}: it · equipment · {YEAR} · unit LAB-A · report {lab_a}" in table
    assert re.search(rf"^\s*{fid}\s+v1 \(inserted\)\s+job \d+", table, re.M), table
    assert "(40 × 100 + 128 × 10) × 52 / 1000 × 0.1" in table
    assert f"{LAPTOP_KG:,.3f}" in table and "yes" in table

    # A revised factor, not recalculated: the stored row is stale and used v1; the
    # factor is now v2, set by the revision's upload.
    upload("factors", EQUIP_FACTORS.format(ef="0.2"), module=4, year=YEAR)
    table = ok("explain", entry, width=250)
    assert re.search(rf"^\s*{fid}\s+v2 \(updated\)", table, re.M), table
    assert re.search(rf"{LAPTOP_KG:,.3f}\s+{fid} v1\s+no \(stale\)", table), table
    assert "needs recalculation" in table
    stale = json.loads(ok("explain", entry, "--json"))
    assert stale["stored_rows_agree"] is False
    assert stale["rows"][0]["kg_co2eq"] == pytest.approx(2 * LAPTOP_KG)


def test_tablet_explained_without_row(lab_a: int) -> None:
    tablet = json.loads(ok("entries", lab_a, 4, "--missing", "--json"))["items"][0]["id"]
    table = ok("explain", tablet)
    assert "No row: no factor for equipment_class='Tablet'" in table
    assert "No stored row." in table


@pytest.mark.parametrize(("args", "fragments"), [
    (["entries", "999999", "equipment"], ["report 999999 not found"]),
    (["entries", "LAB-Z/2025", "equipment"], ["unit 'LAB-Z' not found"]),
    (["entries", "LAB-A/20x5", "equipment"], ["give a report id or UNIT/YEAR"]),
    (["entries", "abc", "equipment"], ["give a report id or UNIT/YEAR"]),
    (["entries", "LAB-A/2025", "nosuch"], ["unknown module 'nosuch'", "4=equipment"]),
    (["entries", "LAB-A/2025", "equipment", "-d", "member"],
     ["does not belong to module 4"]),
    (["entries", "LAB-A/2025", "equipment", "-d", "bogus"], ["unknown data entry type"]),
    (["entries", "LAB-A/2025", "equipment", "--emission-type", "10001"],
     ["emission type 10001 is not part of module 4"]),
    (["explain", "999999999"], ["data entry 999999999 not found"]),
], ids=["report-id", "unit-year", "bad-year", "bad-report", "module", "det-of-other-module",
        "det", "emission-type", "entry"])
def test_clear_errors(lab_a: int, args: list[str], fragments: list[str]) -> None:
    r = carbon(*args)
    assert r.exit_code == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert_one_line_error(r.exit_code, r.stderr, *fragments)


@pytest.mark.parametrize(("report", "fragments"), [
    # A typo: no unit has that code. It said "unit 'LAB-Z' has no report for 2025", as if
    # LAB-Z existed; the API says "unit 'LAB-Z' not found".
    ("LAB-Z/2025", ["unit 'LAB-Z' not found", "institutional code"]),
    # The unit_institutional_id of the data entry files (LAB-A's is UA): it names the code.
    ("UA/2025", ["unit 'UA' not found", "institutional id of LAB-A", "LAB-A/2025"]),
    # The unit exists, the year has no report of it: the years it has.
    ("LAB-A/2024", ["unit 'LAB-A' has no report for 2024", "its reports are for 2025"]),
], ids=["unknown-code", "institutional-id", "other-year"])
def test_a_unit_that_is_not_found_is_told_apart_from_a_missing_year(
        lab_a: int, report: str, fragments: list[str]) -> None:
    """`carbon entries UNIT/YEAR` run as an operator runs it: one true line saying what to
    give instead, exit 1, nothing on stdout."""
    r = run_carbon("entries", report, "equipment")
    assert r.stdout == ""
    assert r.returncode == 1
    assert_one_line_error(r.returncode, r.stderr, *fragments)


def test_out_of_range_arguments_are_usage_errors(db: str) -> None:
    for args in (["explain", "0"], ["entries", "1", "4", "--limit", "501"],
                 ["entries", "1", "4", "--page", "0"]):
        r = carbon(*args)
        assert r.exit_code == 2 and "Traceback" not in r.stderr, (args, r.stderr)
