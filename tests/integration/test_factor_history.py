"""The history of every factor on PostgreSQL (the COPY upload path), a real worker and the
HTTP API: every change an upload, a retirement, a revival or a facility refresh makes is
recorded with its job, who, when and the values before and after; the explain view names
the factor version an entry was computed with; ``carbon seed`` (the demo's loading path)
leaves a history for every factor it wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from carbon_api.cli import app as cli
from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .api_support import Tokens
from .helpers import UNITS_CSV, jobs_of, wait_pipeline

pytestmark = pytest.mark.integration
YEAR = 2025
EQ_F = ("equipment_class,sub_class,active_power_w,standby_power_w,active_usage_hours_per_week,"
        "standby_usage_hours_per_week,ef_kg_co2eq_per_kwh\n")
V1 = EQ_F + "Laptop,Standard,100,10,,,0.1\nDesktop,,200,20,,,0.1\n"
V2 = EQ_F + "Desktop,,200,20,,,0.2\nMonitor,,30,1,,,0.1\n"
ENTRIES = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
           "active_usage_hours_per_week,standby_usage_hours_per_week\n"
           "UA,IT-1,Laptop 1,Laptop,Standard,40,128\n"
           "UA,IT-2,Desktop 1,Desktop,Workstation,40,128\n")


def _upload(kind: str, body: str, **kw: Any) -> int:
    """The upload's job id (its pipeline finished)."""
    acc = ops.start_upload(kind, body.encode(), created_by="hist-op", year=YEAR, **kw)
    p = wait_pipeline(acc.pipeline_id)
    assert p.status in ("SUCCESS", "WARNING"), p.status
    (job,) = [j for j in jobs_of(acc.pipeline_id) if j.upload_id is not None]
    return job.id


def _sql(q: str, **params: Any) -> list[tuple[Any, ...]]:
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(q), params)]


def _history() -> dict[str, list[tuple[Any, ...]]]:
    """equipment_class → [(change, job, who, ef before, ef after)], oldest first."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for cls, *rest in _sql(
            "SELECT f.classification->>'equipment_class', h.change, h.job_id, h.changed_by,"
            " (h.values_before->>'ef_kg_co2eq_per_kwh')::float,"
            " (h.values_after->>'ef_kg_co2eq_per_kwh')::float FROM factor_history h"
            " JOIN factors f ON f.id = h.factor_id ORDER BY h.id"):
        out.setdefault(cls, []).append(tuple(rest))
    return out


def _fid(cls: str) -> int:
    ((fid,),) = _sql("SELECT id FROM factors WHERE classification->>'equipment_class' = :c",
                     c=cls)
    return int(fid)


def test_every_upload_change_is_recorded_with_job_who_and_values(db: str, worker: Any
                                                                  ) -> None:
    _upload("units", UNITS_CSV)
    j1 = _upload("factors", V1, module=4, det=11)
    j2 = _upload("factors", V2, module=4, det=11)
    j3 = _upload("factors", V1, module=4, det=11)
    _upload("factors", V1, module=4, det=11)  # unchanged: nothing to record
    w = "hist-op"
    assert _history() == {
        "Laptop": [("inserted", j1, w, None, 0.1), ("retired", j2, w, 0.1, 0.1),
                   ("revived", j3, w, 0.1, 0.1)],
        "Desktop": [("inserted", j1, w, None, 0.1), ("updated", j2, w, 0.1, 0.2),
                    ("updated", j3, w, 0.2, 0.1)],
        "Monitor": [("inserted", j2, w, None, 0.1), ("retired", j3, w, 0.1, 0.1)],
    }
    # The timeline ends at the factor as it is now, and each change starts where the
    # previous one ended.
    for fid, values in _sql('SELECT id, "values" FROM factors'):
        chain = [(b, a) for b, a in _sql(
            "SELECT values_before, values_after FROM factor_history WHERE factor_id = :f"
            " ORDER BY id", f=fid)]
        assert chain[-1][1] == values
        assert all(prev[1] == nxt[0] for prev, nxt in zip(chain, chain[1:], strict=False))
    # Merge mode records its updates too.
    j5 = _upload("factors", EQ_F + "Desktop,,200,20,,,0.3\n", module=4, det=11, mode="merge")
    assert _history()["Desktop"][-1] == ("updated", j5, w, 0.1, 0.3)


def test_facility_refresh_records_computed_values(db: str) -> None:
    from carbon_domain.db.models import Unit
    from carbon_domain.services.inputs.factors import write_factor_set
    from carbon_domain.services.recalc.facilities import refresh_facility_factors

    def facility(fid: str) -> tuple[int, int, dict[str, Any], dict[str, Any]]:
        return (70, 100100, {"researchfacility_id": fid, "researchfacility_name": None},
                {"kg_co2eq_sum": 5.0, "total_use": 7.0})

    with session_scope() as s:
        s.add_all(Unit(institutional_code=f"FAC-{f}", institutional_id=f, name=f, level=4)
                  for f in ("F1", "F2"))
        write_factor_set(s, year=YEAR, job_id=None, rows=[facility("F1"), facility("F2")],
                         scope_dets=[70])
    with session_scope() as s:
        write_factor_set(s, year=YEAR, job_id=None, rows=[facility("F2")], scope_dets=[70])
    with session_scope() as s:
        refresh_facility_factors(s, YEAR)
    rows = _sql("SELECT f.classification->>'researchfacility_id', h.change, h.values_before,"
                " h.values_after FROM factor_history h JOIN factors f ON f.id = h.factor_id"
                " ORDER BY h.id")
    before = {"kg_co2eq_sum": 5.0, "total_use": 7.0}
    assert [r[:2] for r in rows] == [("F1", "inserted"), ("F2", "inserted"),
                                     ("F1", "retired"), ("F2", "computed")]
    assert rows[3][2:] == (before, {"kg_co2eq_sum": 0.0, "total_use": 0.0})


def test_history_route_and_explain_name_the_version(api: TestClient, tokens: Tokens) -> None:
    _upload("units", UNITS_CSV)
    j1 = _upload("factors", V1, module=4, det=11)
    _upload("data-entries", ENTRIES, module=4, det=11)
    j2 = _upload("factors", V2, module=4, det=11)
    desktop = _fid("Desktop")

    r = api.get(f"/v1/factors/{desktop}/history", headers=tokens.view)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["factor"]["id"] == desktop and body["factor"]["status"] == "live"
    assert [(c["version"], c["change"], c["job_id"], c["changed_by"], c["changed_keys"])
            for c in body["changes"]] == [
        (1, "inserted", j1, "hist-op", ["active_power_w", "ef_kg_co2eq_per_kwh",
                                        "standby_power_w"]),
        (2, "updated", j2, "hist-op", ["ef_kg_co2eq_per_kwh"])]
    assert body["changes"][1]["values_before"]["ef_kg_co2eq_per_kwh"] == 0.1
    assert body["changes"][1]["values_after"]["ef_kg_co2eq_per_kwh"] == 0.2
    laptop = api.get(f"/v1/factors/{_fid('Laptop')}/history", headers=tokens.view).json()
    assert laptop["factor"]["status"] == "retired"
    assert [c["change"] for c in laptop["changes"]] == ["inserted", "retired"]

    # The CLI: the same timeline as a Rich table and as JSON; an unknown id is one line.
    runner = CliRunner()
    out = runner.invoke(cli, ["factors", "history", str(desktop)])
    assert out.exit_code == 0, out.output
    assert "updated" in out.stdout and "ef_kg_co2eq_per_kwh: 0.1 → 0.2" in out.stdout
    out = runner.invoke(cli, ["factors", "history", str(desktop), "--json"])
    assert out.exit_code == 0, out.output
    assert [c["change"] for c in json.loads(out.stdout)["changes"]] == ["inserted", "updated"]
    out = runner.invoke(cli, ["factors", "history", "999999"])
    assert out.exit_code == 1 and "factor 999999 not found" in out.stderr

    assert api.get("/v1/factors/999999/history", headers=tokens.view).status_code == 404
    assert api.get("/v1/factors/0/history", headers=tokens.view).status_code == 422
    assert api.get("/v1/factors/x/history", headers=tokens.view).status_code == 422
    assert api.get(f"/v1/factors/{desktop}/history").status_code == 401

    ((entry,),) = _sql("SELECT id FROM data_entries WHERE data->>'equipment_id' = 'IT-2'")
    ex = api.get(f"/v1/data-entries/{entry}/explain", headers=tokens.view).json()
    (factor,) = ex["factors"]
    assert (factor["id"], factor["version"], factor["change"], factor["set_by_job_id"],
            factor["set_by"]) == (desktop, 2, "updated", j2, "hist-op")
    (row,) = ex["stored_rows"]
    # Not recalculated yet: the stored row was computed with version 1 (stale).
    assert (row["factor_id"], row["factor_version"], row["factor_set_by_job_id"],
            row["agrees"]) == (desktop, 1, j1, False)
    _upload("factors", V2.replace("0.2", "0.25"), module=4, det=11, recalculate=True)
    j3 = max(j for (j,) in _sql("SELECT id FROM data_ingestion_jobs"
                               " WHERE job_type = 'factor_ingest'"))
    ex = api.get(f"/v1/data-entries/{entry}/explain", headers=tokens.view).json()
    (row,) = ex["stored_rows"]
    # Recalculated by the revision's pipeline: computed with version 3, set by its upload.
    assert (row["factor_id"], row["factor_version"], row["factor_set_by_job_id"],
            row["agrees"]) == (desktop, 3, j3, True)


def test_seed_leaves_a_history_for_every_factor(db: str, worker: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["seed", "--units", "3", "--entries", "300", "--year",
                                      str(YEAR), "--out", str(tmp_path / "s"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["load"]["ok"]
    ((factors, without, inserted, computed),) = _sql(
        "SELECT (SELECT count(*) FROM factors),"
        " (SELECT count(*) FROM factors f WHERE NOT EXISTS (SELECT 1 FROM factor_history h"
        "  WHERE h.factor_id = f.id)),"
        " (SELECT count(*) FROM factor_history WHERE change = 'inserted'"
        "  AND job_id IS NOT NULL),"
        " (SELECT count(*) FROM factor_history WHERE change = 'computed')")
    assert factors > 0 and without == 0 and inserted == factors
    assert computed >= 1  # the facility factors got their computed parts during the load
