"""Results out (issue 12): drill-down, explain, CSV exports — through the HTTP API, against
hand-computed numbers, on the real pipeline (PostgreSQL, Redis, a real Celery worker).

Types covered: member (Strategy B, 1:N rows), plane (Strategy B, band by distance; a first
class trip has no band → missing), building rooms (Strategy A, 1:N rows; a building without
factor → missing) and IT equipment (Strategy A, the CSV-injection entry name).
"""

from __future__ import annotations

import ast
import csv
import io
import math
import operator
from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from carbon_domain import stats as stats_lib
from carbon_domain.db.enums import IngestionMethod, JobResult, JobState, JobType, TargetType
from carbon_domain.db.session import session_scope
from carbon_domain.services.exports import exports
from carbon_domain.services.jobs import jobs

from .api_support import Tokens, upload, wait_pipeline

pytestmark = pytest.mark.integration
YEAR = 2025
UNITS = ("institutional_code,institutional_id,name,level,parent_institutional_code\n"
         "LAB-A,UA,Lab A,4,\nLAB-B,UB,=cmd|' /C calc'!A0,4,\n")
ROOMS = ("building_name,room_name,room_type,room_surface_square_meter\n"
         "BC,BC 125,office,20\nAAB,AAB 010,laboratories,40\n")
MEMBER_F = ("headcount_category,headcount_class,headcount_subclass,unit,number_of_unit_per_fte,"
            "ef_kg_co2eq_per_unit\nfood,vegetarian,,kg,100,1.0\nwaste,incineration,,kg,50,0.5\n"
            "commuting,public_transport,,km,200,0.2\n")
MEMBER_E = ("unit_institutional_id,name,user_institutional_id,fte\n"
            "UA,Alice,100001,0.8\nUB,Bob,100002,0.5\n")
PLANE_F = ("category,cabin_class,ef_kg_co2eq_per_km,rfi_adjustment,min_distance,max_distance\n"
           "short_to_medium_haul,economy,0.2906,1.35,0,2500\n"
           "medium_to_long_haul,business,0.393,1.35,2500,999999\n")
PLANE_E = ("unit_institutional_id,user_institutional_id,departure_date,origin_iata,"
           "destination_iata,number_of_trips,cabin_class\n"
           "UA,100001,2025-03-01,GVA,CDG,2,economy\nUB,100002,2025-04-01,CDG,JFK,1,business\n"
           "UA,100003,2025-05-01,GVA,CDG,1,first\n")
ROOM_F = ("building_name,room_type,ef_kg_co2eq_per_kwh,heating_kwh_per_square_meter,"
          "cooling_kwh_per_square_meter,ventilation_kwh_per_square_meter,"
          "lighting_kwh_per_square_meter,energy_type,conversion_factor\n"
          "BC,office,0.1,30,20,10,5,electric,\nAAB,laboratories,0.2,30,20,10,5,thermal,0.9\n")
ROOM_E = ("unit_institutional_id,building_location,building_name,room_name,room_type,"
          "room_allocation_ratio\nUA,ECUBLENS,BC,BC 125,office,\n"
          "UB,ECUBLENS,AAB,AAB 010,laboratories,0.5\nUA,ECUBLENS,XYZ,XYZ 1,office,\n")
IT_F = ("equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
        "Laptop,Standard,100,10,0.1\n")
INJECTION = '=HYPERLINK("http://x","y")'
INJECTION_CELL = '"' + INJECTION.replace('"', '""') + '"'
IT_E = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
        "active_usage_hours_per_week,standby_usage_hours_per_week\n"
        f"UA,INV-1,{INJECTION_CELL},Laptop,Standard,40,128\n"
        "UB,-INV-2,@sum,Laptop,Standard,40,128\n")
GVA_CDG, CDG_JFK = 408 + 95, 5834 + 95  # per-trip km (see test_factor_matrix)
LAPTOP_KG = (40 * 100 + 128 * 10) * 52 / 1000 * 0.1


def _done(api: TestClient, tokens: Tokens, path: str, body: str, **params: Any) -> None:
    r = upload(api, path, body, tokens.op, **params)
    assert r.status_code == 202, r.text
    p = wait_pipeline(api, r.json()["pipeline_id"], tokens.op, timeout=60)
    assert p["status"] == "SUCCESS", p


@pytest.fixture
def loaded(api: TestClient, tokens: Tokens) -> dict[str, int]:
    _done(api, tokens, "/v1/sync/units", UNITS, year=YEAR)
    _done(api, tokens, "/v1/sync/reference/building-rooms", ROOMS)
    for module, det, factors, entries in ((1, 1, MEMBER_F, MEMBER_E), (2, 20, PLANE_F, PLANE_E),
                                          (3, 30, ROOM_F, ROOM_E), (4, 11, IT_F, IT_E)):
        _done(api, tokens, f"/v1/sync/factors/{module}", factors, year=YEAR,
              data_entry_type_id=det)
        _done(api, tokens, f"/v1/sync/data-entries/{module}", entries, year=YEAR,
              data_entry_type_id=det)
    reports = api.get("/v1/reports", params={"year": YEAR}, headers=tokens.view).json()
    return {r["unit"]["institutional_code"]: r["id"] for r in reports["items"]}


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv}


def evaluate(expr: str) -> float:
    """Arithmetic of a substituted formula ('×' is '*'), numbers and + - * / only."""
    def ev(n: ast.AST) -> float:
        if isinstance(n, ast.BinOp):
            return _OPS[type(n.op)](ev(n.left), ev(n.right))
        assert isinstance(n, ast.Constant), ast.dump(n)
        return float(n.value)
    return ev(ast.parse(expr.replace("×", "*"), mode="eval").body)


def entries(api: TestClient, tokens: Tokens, report: int, module: int, **params: Any
            ) -> dict[str, Any]:
    r = api.get(f"/v1/reports/{report}/modules/{module}/entries", params=params,
                headers=tokens.view)
    assert r.status_code == 200, r.text
    return r.json()


def explain(api: TestClient, tokens: Tokens, entry_id: int) -> dict[str, Any]:
    r = api.get(f"/v1/data-entries/{entry_id}/explain", headers=tokens.view)
    assert r.status_code == 200, r.text
    out = r.json()
    for row in out["rows"]:  # the substituted formula reproduces the engine's kg
        assert math.isclose(evaluate(row["substituted"]), row["kg_co2eq"], rel_tol=1e-12)
    return out


def test_drill_down_and_explain_by_hand(api: TestClient, tokens: Tokens,
                                        loaded: dict[str, int]) -> None:
    a, b = loaded["LAB-A"], loaded["LAB-B"]
    # Buildings, LAB-A: BC 125 (20 m² × ratio 1 × EF 0.1 = 2 per kWh/m²) and XYZ (no factor)
    page = entries(api, tokens, a, 3, count=True)
    assert page["total"] == 2 and not page["has_more"]
    bc, xyz = page["items"]
    assert bc["data"]["room_name"] == "BC 125" and bc["reason_kind"] is None
    assert [(r["emission_type_path"], r["scope"], r["kg_co2eq"]) for r in bc["emissions"]] == [
        ("buildings__rooms__lighting__office", 2, 10.0),
        ("buildings__rooms__cooling__office", 2, 40.0),
        ("buildings__rooms__ventilation__office", 2, 20.0),
        ("buildings__rooms__heating_elec__office", 2, 60.0)]
    assert xyz["emissions"] == [] and xyz["reason_kind"] == "no_matching_factor"
    assert "XYZ" in xyz["reason"]
    # Subtree filter: 60100 (buildings__rooms) keeps BC and its rows; a leaf keeps one row.
    only = entries(api, tokens, a, 3, emission_type=60100)
    assert [e["id"] for e in only["items"]] == [bc["id"]] and only["total"] is None
    assert entries(api, tokens, a, 3, emission_type=60100, count=True)["total"] == 1
    leaf = entries(api, tokens, a, 3, emission_type=6010101)
    assert [r["kg_co2eq"] for r in leaf["items"][0]["emissions"]] == [10.0]
    assert [e["id"] for e in entries(api, tokens, a, 3, missing=True)["items"]] == [xyz["id"]]
    # Paging: one per page, keyset cursor gives the same second page.
    p1 = entries(api, tokens, a, 3, limit=1)
    assert p1["has_more"] and p1["next_after"] == bc["id"]
    assert entries(api, tokens, a, 3, limit=1, page=2)["items"][0]["id"] == xyz["id"]
    assert entries(api, tokens, a, 3, limit=1, after=bc["id"])["items"][0]["id"] == xyz["id"]

    ex = explain(api, tokens, bc["id"])
    assert ex["strategy"] == "A" and ex["stored_rows_agree"] is True
    assert ex["rows"][0]["substituted"] == "20 × 1 × 0.1 × 5"
    assert ex["rows"][3]["formula"].endswith("heating_kwh_per_square_meter × conversion_factor")
    assert ex["factors"][0]["classification"]["building_name"] == "BC"
    thermal = explain(api, tokens, entries(api, tokens, b, 3)["items"][0]["id"])
    # AAB 010: 40 m² × 0.5 × 0.2 = 4; heating_thermal 30 kWh/m² × 0.9 on scope 1 = 108
    assert [(r["emission_type_path"].split("__")[2], r["kg_co2eq"]) for r in thermal["rows"]][-1] \
        == ("heating_thermal", pytest.approx(108.0, rel=1e-12))
    assert thermal["rows"][-1]["substituted"] == "40 × 0.5 × 0.2 × 30 × 0.9"
    nothing = explain(api, tokens, xyz["id"])
    assert nothing["rows"] == [] and nothing["reason_kind"] == "no_matching_factor"

    # Member, 1:N: fte 0.8 → food 80 × 1.0, waste 40 × 0.5, commuting 160 km × 0.2
    alice = entries(api, tokens, a, 1)["items"][0]
    assert [r["kg_co2eq"] for r in alice["emissions"]] == pytest.approx([80.0, 20.0, 32.0])
    m = explain(api, tokens, alice["id"])
    assert m["strategy"] == "B" and m["stored_rows_agree"]
    assert [r["substituted"] for r in m["rows"]] == ["0.8 × 100 × 1", "0.8 × 50 × 0.5",
                                                     "0.8 × 200 × 0.2"]
    assert len(m["factors"]) == 3

    # Plane: 503 km × 2 trips × 0.2906 × RFI 1.35; first class has no band → missing.
    planes = entries(api, tokens, a, 2)["items"]
    eco, first = planes
    assert eco["emissions"][0]["kg_co2eq"] == pytest.approx(GVA_CDG * 2 * 0.2906 * 1.35,
                                                            rel=1e-12)
    assert eco["emissions"][0]["additional_value"] == GVA_CDG * 2
    p = explain(api, tokens, eco["id"])
    assert p["rows"][0]["substituted"] == f"{GVA_CDG} × 2 × 0.2906 × 1.35"
    assert p["rows"][0]["emission_type_path"].startswith("professional_travel__plane")
    assert first["reason_kind"] == "no_matching_factor" and first["emissions"] == []
    assert explain(api, tokens, first["id"])["reason_kind"] == "no_matching_factor"

    # A stored row that no longer matches the recomputation is flagged stale.
    with session_scope() as s:
        s.execute(text("UPDATE data_entry_emissions SET kg_co2eq = kg_co2eq + 1"
                       " WHERE data_entry_id = :i AND emission_type_id = 10001"),
                  {"i": alice["id"]})
    stale = explain(api, tokens, alice["id"])
    assert stale["stored_rows_agree"] is False
    assert [r["agrees"] for r in stale["stored_rows"]] == [False, True, True]


def test_drill_down_bad_input(api: TestClient, tokens: Tokens, loaded: dict[str, int]) -> None:
    a = loaded["LAB-A"]
    base = f"/v1/reports/{a}/modules/3/entries"
    for path, params, code in [
        (base, {"page": -1}, 422), (base, {"page": 0}, 422), (base, {"limit": 100000}, 422),
        (base, {"emission_type": 80000}, 422), (base, {"emission_type": 12345}, 422),
        (base, {"data_entry_type_id": 11}, 422), (base, {"data_entry_type_id": 99}, 422),
        ("/v1/reports/999999/modules/3/entries", {}, 404),
        (f"/v1/reports/{a}/modules/9/entries", {}, 422),
        ("/v1/data-entries/999999/explain", {}, 404), ("/v1/data-entries/-3/explain", {}, 422),
    ]:
        r = api.get(path, params=params, headers=tokens.view)
        assert r.status_code == code, (path, params, r.text)
        assert r.json()["detail"]
    assert api.get(base).status_code == 401


def _csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def test_exports_agree_with_stats(api: TestClient, tokens: Tokens,
                                  loaded: dict[str, int]) -> None:
    r = api.get("/v1/exports/results.csv", params={"year": YEAR}, headers=tokens.view)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    with session_scope() as s:
        last = s.execute(text("SELECT max(id) FROM data_ingestion_jobs WHERE job_type ="
                              " 'emission_recalc' AND state = 'FINISHED'")).scalar()
        module_stats = {(code, m): st for code, m, st in s.execute(text(
            "SELECT u.institutional_code, m.module_type_id, m.stats FROM carbon_report_modules"
            " m JOIN carbon_reports r ON r.id = m.carbon_report_id JOIN units u ON"
            " u.id = r.unit_id WHERE r.year = :y"), {"y": YEAR})}
        report_stats = dict(s.execute(text(
            "SELECT u.institutional_code, r.stats FROM carbon_reports r JOIN units u ON"
            " u.id = r.unit_id WHERE r.year = :y"), {"y": YEAR}).all())
    assert r.headers["x-carbon-last-recalculation-job"] == str(last)
    rows = _csv(r.text)
    assert list(rows[0]) == list(exports.RESULTS_COLUMNS)
    assert {row["unit_name"] for row in rows} == {"Lab A", "'=cmd|' /C calc'!A0"}
    per_module: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)
    for row in rows:
        per_module[(row["unit_institutional_code"], int(row["module_type_id"]))][
            int(row["emission_type_id"])] = float(row["kg_co2eq"])
    assert len(per_module) == 8  # 2 units × 4 modules with rows
    for (code, module), kg in per_module.items():
        st = module_stats[(code, module)]
        again = stats_lib.module_stats(kg, st["entry_count"], st["missing_factors"])
        for key in ("scope1", "scope2", "scope3", "total", "by_emission_type"):
            assert again[key] == st[key], (code, module, key)
    for code, st in report_stats.items():
        mods = [{"by_emission_type": kg} for (c, _), kg in per_module.items() if c == code]
        again = stats_lib.report_stats(mods)
        for key in ("scope1", "scope2", "scope3", "total", "by_emission_type"):
            assert again[key] == st[key], (code, key)
    one = _csv(api.get("/v1/exports/results.csv", params={"year": YEAR, "unit": "LAB-A"},
                       headers=tokens.view).text)
    assert one and {row["unit_institutional_code"] for row in one} == {"LAB-A"}

    # Detailed exports: kg sums per unit and type equal the module stats.
    for det, module in ((1, 1), (20, 2), (30, 3), (11, 4)):
        r = api.get(f"/v1/exports/data/{det}.csv", params={"year": YEAR}, headers=tokens.view)
        assert r.status_code == 200, r.text
        lines = _csv(r.text)
        sums: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        for line in lines:
            if line["kg_co2eq"]:
                sums[line["unit_institutional_code"]][int(line["emission_type_id"])].append(
                    float(line["kg_co2eq"]))
        for code in ("LAB-A", "LAB-B"):
            want = module_stats[(code, module)]["by_emission_type"]
            got = {str(k): round(math.fsum(v), 6) for k, v in sums[code].items()}
            assert got == pytest.approx(want, abs=1e-6), (det, code)
        if det == 20:  # the first-class trip: one line without a row, with its reason
            no_row = [x for x in lines if not x["kg_co2eq"]]
            assert [(x["cabin_class"], x["reason_kind"]) for x in no_row] == [
                ("first", "no_matching_factor")]
        if det == 11:
            names = {x["equipment_id"]: x["name"] for x in lines}
            assert names == {"INV-1": "'" + INJECTION, "'-INV-2": "'@sum"}
            assert r.text.splitlines()[1].split(",")[-3] == repr(LAPTOP_KG)  # a bare number
            assert float(lines[0]["active_usage_hours_per_week"]) == 40


def test_fast_and_python_paths_agree(api: TestClient, tokens: Tokens,
                                     loaded: dict[str, int]) -> None:
    for det in (1, 20, 30, 11):
        with session_scope() as s:
            fast = "".join(exports.data_csv(s, det, YEAR, fast=True))
            slow = "".join(exports.data_csv(s, det, YEAR, fast=False))
        a, b = list(csv.reader(io.StringIO(fast))), list(csv.reader(io.StringIO(slow)))
        assert len(a) == len(b) > 1 and a[0] == b[0]
        for x, y in zip(a[1:], b[1:], strict=True):
            for cx, cy in zip(x, y, strict=True):
                try:
                    assert float(cx) == float(cy), (det, x, y)
                except ValueError:
                    assert cx == cy, (det, x, y)


def test_export_refused_after_a_run_that_rewrote_part_of_its_rows(
        api: TestClient, tokens: Tokens, loaded: dict[str, int]) -> None:
    """An operator aborted an incremental recalculation with 3 of its 4 chunks written in
    place: both exports answered 200, the data export's rows mixed the aborted run's chunks
    with older ones, and results.csv (the statistics, never re-aggregated) no longer summed
    the rows. Such a type's numbers are refused like those of a running one. A run that
    rewrote nothing (a full run's chunks go to a stage that is dropped) is not."""
    from carbon_domain.db.models import DataIngestionJob, RecalcChunk

    def stopped(staged: bool) -> int:
        with session_scope() as s:
            job = jobs.create_job(s, pipeline_id=None, job_type=JobType.emission_recalc,
                                  target_type=TargetType.DATA_ENTRIES,
                                  ingestion_method=IngestionMethod.computed, module_type_id=4,
                                  data_entry_type_id=11, year=YEAR, created_by="alice")
            job.state, job.result = JobState.FINISHED, JobResult.ERROR
            job.meta = {**(job.meta or {}), "aborted": True, "aborted_by": "alice",
                        "config": {"stage": "emission_stage_j1_a1" if staged else None}}
            s.add_all(RecalcChunk(job_id=job.id, chunk_no=n, lo_id=n, hi_id=n,
                                  planned_entries=1, done=n < 3) for n in range(4))
            return int(job.id)

    job = stopped(staged=False)
    for path in ("/v1/exports/data/11.csv", "/v1/exports/results.csv"):
        r = api.get(path, params={"year": YEAR}, headers=tokens.view)
        assert r.status_code == 409, r.text
        assert r.json()["detail"] == (
            f"it {YEAR}: recalculation #{job} aborted by alice at chunk 4/4 — numbers partly"
            " rewritten: the export would mix old and new numbers; recalculate it first, or"
            " export as is with allow_stale=true (CLI: --allow-stale)")
    # Another type's data is not mixed.
    assert api.get("/v1/exports/data/20.csv", params={"year": YEAR},
                   headers=tokens.view).status_code == 200
    assert api.get("/v1/exports/data/11.csv", params={"year": YEAR, "allow_stale": "true"},
                   headers=tokens.view).status_code == 200
    with session_scope() as s:
        s.delete(s.get(DataIngestionJob, job))
    stopped(staged=True)
    assert api.get("/v1/exports/data/11.csv", params={"year": YEAR},
                   headers=tokens.view).status_code == 200


def test_export_refused_while_recalculating(api: TestClient, tokens: Tokens,
                                            loaded: dict[str, int]) -> None:
    with session_scope() as s:  # an active job nobody consumes (never dispatched)
        job = jobs.request_recalc(s, pipeline_id=None, module_type_id=4, data_entry_type_id=11,
                                  year=YEAR, created_by="test").job_id
    r = api.get("/v1/exports/data/11.csv", params={"year": YEAR}, headers=tokens.view)
    assert r.status_code == 409 and f"job {job}" in r.json()["detail"]
    assert "allow_stale=true" in r.json()["detail"]
    assert api.get("/v1/exports/results.csv", params={"year": YEAR},
                   headers=tokens.view).status_code == 409
    assert api.get("/v1/exports/data/20.csv", params={"year": YEAR},
                   headers=tokens.view).status_code == 200  # another module: not blocked
    r = api.get("/v1/exports/data/11.csv", params={"year": YEAR, "allow_stale": "true"},
                headers=tokens.view)
    assert r.status_code == 200 and len(_csv(r.text)) == 2
    with session_scope() as s:  # finish it so nothing is left active
        s.execute(text("UPDATE data_ingestion_jobs SET state = 'FINISHED', result = 'ERROR'"
                       " WHERE id = :j"), {"j": job})
        agg = jobs.request_aggregation(s, pipeline_id=None, module_type_id=2, year=YEAR,
                                       created_by="test").job_id
    r = api.get("/v1/exports/results.csv", params={"year": YEAR}, headers=tokens.view)
    assert r.status_code == 409 and f"job {agg}" in r.json()["detail"]
    assert "aggregation" in r.json()["detail"]
    # An aggregation changes no emission row: the detailed export is not blocked by it.
    assert api.get("/v1/exports/data/20.csv", params={"year": YEAR},
                   headers=tokens.view).status_code == 200
    assert api.get("/v1/exports/results.csv", params={"year": YEAR, "allow_stale": "true"},
                   headers=tokens.view).status_code == 200
    with session_scope() as s:
        s.execute(text("UPDATE data_ingestion_jobs SET state = 'FINISHED', result = 'ERROR'"
                       " WHERE id = :j"), {"j": agg})


def test_export_auth_and_bad_input(api: TestClient, tokens: Tokens,
                                   loaded: dict[str, int]) -> None:
    url = "/v1/exports/results.csv"
    assert api.get(url, params={"year": YEAR}).status_code == 401
    assert api.get("/v1/exports/data/1.csv", params={"year": YEAR}).status_code == 401
    assert api.get(url, params={"year": YEAR}, headers=tokens.op).status_code == 200
    for path, params, code in [
        (url, {"year": 2031}, 404), (url, {"year": 1999}, 422), (url, {}, 422),
        (url, {"year": YEAR, "unit": "NOPE"}, 404),
        ("/v1/exports/data/99.csv", {"year": YEAR}, 422),
        ("/v1/exports/data/1.csv", {"year": 2031}, 404),
        ("/v1/exports/data/x.csv", {"year": YEAR}, 422),
    ]:
        r = api.get(path, params=params, headers=tokens.view)
        assert r.status_code == code, (path, params, r.text)
        assert r.json()["detail"]


def test_cli_export(api: TestClient, tokens: Tokens, loaded: dict[str, int],
                    tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from carbon_api.cli import app

    from .test_ops_cli import assert_one_line_error

    runner = CliRunner()
    out = tmp_path / "it_data.csv"
    r = runner.invoke(app, ["export", "data", "it", "-y", str(YEAR), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    api_body = api.get("/v1/exports/data/11.csv", params={"year": YEAR},
                       headers=tokens.view).content
    assert out.read_bytes() == api_body
    res = tmp_path / "results.csv"
    r = runner.invoke(app, ["export", "results", "-y", str(YEAR), "--unit", "LAB-B", "-o",
                            str(res)])
    assert r.exit_code == 0, r.output
    # Rich wraps the line at the terminal width (80 here; the temporary path is longer
    # under pytest-xdist): compare the words.
    assert "reflects recalculation job" in " ".join(r.output.split())
    assert res.read_bytes() == api.get("/v1/exports/results.csv", params={
        "year": YEAR, "unit": "LAB-B"}, headers=tokens.view).content
    for args, fragment in [
        (["export", "results", "-y", str(YEAR), "--unit", "NOPE", "-o", str(res)], "NOPE"),
        (["export", "results", "-y", "2031", "-o", str(res)], "2031"),
        (["export", "data", "nope", "-y", str(YEAR), "-o", str(out)], "nope"),
        (["export", "data", "it", "-y", str(YEAR), "-o", str(tmp_path / "no" / "x.csv")],
         "no such directory"),
    ]:
        r = runner.invoke(app, args)
        assert_one_line_error(r.exit_code, r.stderr, fragment)
    with session_scope() as s:
        job = jobs.request_recalc(s, pipeline_id=None, module_type_id=4, data_entry_type_id=11,
                                  year=YEAR, created_by="test").job_id
    r = runner.invoke(app, ["export", "data", "11", "-y", str(YEAR), "-o", str(out)])
    assert_one_line_error(r.exit_code, r.stderr, f"job {job}", "--allow-stale")
    with session_scope() as s:
        s.execute(text("UPDATE data_ingestion_jobs SET state = 'FINISHED', result = 'ERROR'"
                       " WHERE id = :j"), {"j": job})
