"""A factor upload is the factor set of its scope (issue 11 item 1, docs/design.md §2), on real
PostgreSQL + Redis + a real worker.

Factors absent from a revised file are retired (kept, never matched again), their entries
strict-drop on the next recalculation, a later file revives them under the same id,
``mode=merge`` keeps the additive behaviour, and a module-wide file only touches the types it
has rows for. Every test here fails on the additive upsert the project had before.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .helpers import UNITS_CSV, jobs_of, module_stats, wait_pipeline

pytestmark = pytest.mark.integration

YEAR = 2025
EQ_F = ("equipment_class,sub_class,active_power_w,standby_power_w,active_usage_hours_per_week,"
        "standby_usage_hours_per_week,ef_kg_co2eq_per_kwh\n")
EQ_E = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
        "active_usage_hours_per_week,standby_usage_hours_per_week\n")
LAPTOP_ROW = "Laptop,Standard,100,10,,,0.1\n"
DESKTOP_ROW = "Desktop,,200,20,,,0.1\n"
V1 = EQ_F + LAPTOP_ROW + DESKTOP_ROW
# The revised set: Laptop is gone, Desktop changed, Monitor is new.
V2 = EQ_F + "Desktop,,200,20,,,0.2\nMonitor,,30,1,,,0.1\n"
ENTRIES = (EQ_E + "UA,IT-1,Laptop 1,Laptop,Standard,40,128\n"
                  "UA,IT-2,Desktop 1,Desktop,Workstation,40,128\n")
LAPTOP_KG = (40 * 100 + 128 * 10) * 52 / 1000 * 0.1      # 27.456
DESKTOP_KWH = (40 * 200 + 128 * 20) * 52 / 1000           # 549.12 kWh


def _upload(kind: str, body: str, status: str = "SUCCESS", **kw: Any) -> str:
    acc = ops.start_upload(kind, body.encode(), created_by="factor-sets", **kw)
    p = wait_pipeline(acc.pipeline_id)
    assert p.status == status, [(j.job_type, j.result, j.status_message)
                                for j in jobs_of(acc.pipeline_id)]
    return acc.pipeline_id


def _factor_job(pipeline_id: str) -> Any:
    (job,) = [j for j in jobs_of(pipeline_id) if j.job_type == "factor_ingest"]
    return job


def _sql(q: str, **params: Any) -> list[tuple[Any, ...]]:
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(q), params)]


def _factors(det: int = 11) -> dict[str, tuple[Any, ...]]:
    """equipment_class → (id, retired?, retired_by_job_id, changed_by_job_id, values)."""
    return {r[0]: r[1:] for r in _sql(
        "SELECT classification->>'equipment_class', id, retired_at IS NOT NULL,"
        " retired_by_job_id, changed_by_job_id, \"values\" FROM factors"
        " WHERE data_entry_type_id = :d AND year = :y", d=det, y=YEAR)}


def _rows_by_entry() -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for name, kg, fid in _sql(
            "SELECT d.data->>'equipment_id', e.kg_co2eq, e.primary_factor_id FROM"
            " data_entry_emissions e JOIN data_entries d ON d.id = e.data_entry_id"
            " WHERE d.data_entry_type_id = 11 ORDER BY 1"):
        out.setdefault(name, []).append((kg, fid))
    return out


def _seed_it(factors: str = V1) -> None:
    _upload("units", UNITS_CSV, year=YEAR)
    _upload("factors", factors, module=4, det=11, year=YEAR)
    _upload("data-entries", ENTRIES, module=4, det=11, year=YEAR)


def _recalc_it() -> dict[str, Any]:
    acc = ops.trigger_recalculation(module=4, det=11, year=YEAR, created_by="factor-sets")
    assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    (job,) = [j for j in jobs_of(acc.pipeline_id) if j.job_type == "emission_recalc"]
    return dict(job.meta["recalculation"])


def test_revised_file_retires_the_absent_factor_and_its_entry_drops(db: str, worker: Any
                                                                    ) -> None:
    _seed_it()
    before = _factors()
    laptop_id = before["Laptop"][0]
    assert _rows_by_entry()["IT-1"] == [(pytest.approx(LAPTOP_KG), laptop_id)]
    assert module_stats("LAB-A", 4, YEAR)["total"] == pytest.approx(
        LAPTOP_KG + DESKTOP_KWH * 0.1, abs=1e-6)

    pid = _upload("factors", V2, module=4, det=11, year=YEAR, recalculate=False)
    job = _factor_job(pid)
    after = _factors()
    # Retired, not deleted: same id, stamped with the upload that retired it.
    assert after["Laptop"][:4] == (laptop_id, True, job.id, job.id)
    assert after["Desktop"][0] == before["Desktop"][0] and after["Desktop"][1] is False
    assert after["Monitor"][1] is False
    # Until the recalculation, the entry's old rows still reference the retired factor.
    assert _rows_by_entry()["IT-1"] == [(pytest.approx(LAPTOP_KG), laptop_id)]

    meta = _recalc_it()
    assert (meta["missing_factors"], meta["errors"]) == (1, 0), meta
    rows = _rows_by_entry()
    assert "IT-1" not in rows, rows                     # strict drop: no rows, entry kept
    assert rows["IT-2"] == [(pytest.approx(DESKTOP_KWH * 0.2), before["Desktop"][0])]
    assert _sql("SELECT count(*) FROM data_entries WHERE data_entry_type_id = 11") == [(2,)]
    assert _sql("SELECT data->'primary_factor_id' FROM data_entries"
                " WHERE data->>'equipment_id' = 'IT-1'") == [(None,)]
    stats = module_stats("LAB-A", 4, YEAR)
    assert stats["missing_factors"] == 1
    assert stats["total"] == pytest.approx(DESKTOP_KWH * 0.2, abs=1e-6)


def test_a_later_file_revives_the_retired_factor_with_the_same_id(db: str, worker: Any
                                                                   ) -> None:
    _seed_it()
    laptop_id = _factors()["Laptop"][0]
    _upload("factors", V2, module=4, det=11, year=YEAR, recalculate=True)
    assert "IT-1" not in _rows_by_entry()

    pid = _upload("factors", V2 + LAPTOP_ROW, module=4, det=11, year=YEAR, recalculate=True)
    job = _factor_job(pid)
    assert _factors()["Laptop"][:4] == (laptop_id, False, None, job.id)
    assert job.meta["factors_revived"] == 1 and job.meta["factors_retired"] == 0
    assert job.meta["factors_unchanged"] == 2          # Desktop and Monitor as in V2
    assert "1 revived" in job.status_message
    assert _rows_by_entry()["IT-1"] == [(pytest.approx(LAPTOP_KG), laptop_id)]
    assert module_stats("LAB-A", 4, YEAR)["missing_factors"] == 0


def test_merge_mode_keeps_the_factors_absent_from_the_file(db: str, worker: Any) -> None:
    _seed_it()
    pid = _upload("factors", V2, module=4, det=11, year=YEAR, recalculate=True, mode="merge")
    job = _factor_job(pid)
    assert job.meta["mode"] == "merge" and job.meta["factors_retired"] == 0
    assert "nothing retired" in job.status_message
    assert {k: v[1] for k, v in _factors().items()} == {
        "Laptop": False, "Desktop": False, "Monitor": False}
    assert _rows_by_entry()["IT-1"] == [(pytest.approx(LAPTOP_KG), _factors()["Laptop"][0])]
    with pytest.raises(ValueError, match="mode"):
        ops.start_upload("factors", V2.encode(), module=4, det=11, year=YEAR, mode="append")


def test_counts_and_changed_by_job_id(db: str, worker: Any) -> None:
    v1 = EQ_F + "A,,1,1,,,0.1\nB,,1,1,,,0.1\nC,,1,1,,,0.1\nD,,1,1,,,0.1\n"
    p1 = _upload("factors", v1, module=4, det=11, year=YEAR)
    j1 = _factor_job(p1)
    assert (j1.meta["factors_inserted"], j1.meta["factors_retired"]) == (4, 0)
    first = _factors()
    # A unchanged, B's value changed, C and D absent, E new (B listed twice: last row wins,
    # the other row is reported as skipped).
    v2 = EQ_F + "A,,1,1,,,0.1\nB,,1,1,,,0.5\nE,,1,1,,,0.1\nB,,1,1,,,0.2\n"
    p2 = _upload("factors", v2, module=4, det=11, year=YEAR)
    j2 = _factor_job(p2)
    assert {k: j2.meta[f"factors_{k}"] for k in (
        "inserted", "updated", "unchanged", "retired", "revived")} == {
        "inserted": 1, "updated": 1, "unchanged": 1, "retired": 2, "revived": 0}
    assert j2.result == "WARNING"
    dup = ("duplicate of row 5, whose values were kept (the last row of a factor wins):"
           " it factor equipment_class='B'")
    assert j2.status_message == (
        "WARNING: 3 factors: 1 inserted, 1 updated, 1 unchanged, 2 retired, 1 row skipped"
        f" — first error: row 3: {dup}")
    now = _factors()
    assert now["A"][3] == j1.id                          # unchanged keeps its old job
    assert now["B"][3] == j2.id and now["B"][4]["ef_kg_co2eq_per_kwh"] == 0.2
    assert now["C"][1:4] == (True, j2.id, j2.id) and now["D"][1:4] == (True, j2.id, j2.id)
    assert now["E"][3] == j2.id
    assert {k: v[0] for k, v in now.items() if k in first} == {k: v[0] for k, v in first.items()}
    # The same file again changes nothing.
    j3 = _factor_job(_upload("factors", v2, module=4, det=11, year=YEAR))
    assert (j3.meta["factors_unchanged"], j3.meta["factors_updated"],
            j3.meta["factors_retired"]) == (3, 0, 0)
    assert {k: v[3] for k, v in _factors().items()} == {k: v[3] for k, v in now.items()}


def test_a_rejected_row_does_not_retire_its_factor(db: str, worker: Any) -> None:
    _upload("factors", V1, module=4, det=11, year=YEAR)
    # Laptop's row has a bad number: skipped and reported, and its factor stays live.
    pid = _upload("factors", EQ_F + "Laptop,Standard,lots,10,,,0.1\n" + DESKTOP_ROW,
                  module=4, det=11, year=YEAR)
    job = _factor_job(pid)
    assert job.result == "WARNING" and job.meta["factors_retired"] == 0
    assert _factors()["Laptop"][1] is False


def test_module_wide_upload_only_retires_the_types_in_the_file(db: str, worker: Any
                                                                ) -> None:
    _upload("factors", EQ_F + "Spectrometer,,500,20,,,0.12\n", module=4, det=10, year=YEAR)
    _upload("factors", V1, module=4, det=11, year=YEAR)
    # A module-wide file with rows of `it` only: scientific (10) and other (12) are untouched.
    body = ("equipment_category," + EQ_F + "it," + "Desktop,,200,20,,,0.3\n")
    pid = _upload("factors", body, module=4, year=YEAR)
    job = _factor_job(pid)
    assert job.meta["data_entry_type_ids"] == [11]
    assert (job.meta["factors_retired"], job.meta["factors_updated"]) == (1, 1)
    assert _factors(10)["Spectrometer"][1] is False
    assert _factors(11)["Laptop"][1] is True and _factors(11)["Desktop"][1] is False


def test_cli_merge_flag(db: str, worker: Any, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from carbon_api.cli import app

    def ingest(body: str, *extra: str) -> None:
        path = tmp_path / "factors.csv"
        path.write_text(body)
        result = CliRunner().invoke(app, ["ingest", "factors", str(path), "-m", "equipment",
                                          "-d", "it", "-y", str(YEAR), "--wait", *extra])
        assert result.exit_code == 0, (result.stdout, result.stderr)

    ingest(V1)
    ingest(V2, "--merge")
    assert _factors()["Laptop"][1] is False
    ingest(V2)
    assert _factors()["Laptop"][1] is True


def test_facility_refresh_leaves_retired_factors_alone(db: str) -> None:
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
        result = write_factor_set(s, year=YEAR, job_id=None, rows=[facility("F2")],
                                  scope_dets=[70])
        assert result.retired == 1
    with session_scope() as s:
        refresh_facility_factors(s, YEAR)
    values = dict(_sql("SELECT classification->>'researchfacility_id', \"values\" FROM factors"
                       " WHERE data_entry_type_id = 70"))
    # The live facility got its computed parts (no emissions, no use yet: 0); the retired
    # one is history and keeps what it had.
    assert values["F2"] == {"kg_co2eq_sum": 0.0, "total_use": 0.0}
    assert values["F1"] == {"kg_co2eq_sum": 5.0, "total_use": 7.0}
