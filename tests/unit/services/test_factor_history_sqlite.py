"""The embedded (SQLite) factor write path records every change in the factor's history,
with the job, who and the values before and after, in the same session as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.history_models import FactorHistory
from carbon_domain.db.models import DataIngestionJob, Factor
from carbon_domain.services.inputs.factor_history import factor_changes, versions_at
from carbon_domain.services.inputs.factors import write_factor_set

YEAR = 2025


def _row(cls: str, ef: float) -> tuple[int, int, dict[str, Any], dict[str, Any]]:
    return (11, 80200, {"equipment_class": cls, "sub_class": None},
            {"active_power_w": 100, "ef_kg_co2eq_per_kwh": ef})


def _job(s: Session, who: str) -> int:
    job = DataIngestionJob(job_type=JobType.factor_ingest, target_type=TargetType.FACTORS,
                           ingestion_method=IngestionMethod.csv, module_type_id=4,
                           data_entry_type_id=11, year=YEAR, created_by=who)
    s.add(job)
    s.flush()
    return job.id


def _ids(s: Session) -> dict[str, int]:
    return {f.classification["equipment_class"]: f.id for f in s.scalars(select(Factor))}


def _timeline(s: Session, fid: int) -> list[tuple[Any, ...]]:
    return [(c.version, c.change, c.job_id, c.changed_by, c.values_before, c.values_after)
            for c in factor_changes(s, fid)]


def test_generic_path_records_insert_update_retire_revive(session: Session) -> None:
    s = session
    j1, j2, j3, j4 = (_job(s, f"op{i}") for i in range(1, 5))
    write_factor_set(s, year=YEAR, job_id=j1, rows=[_row("Laptop", 0.1), _row("Desktop", 0.1)],
                     scope_dets=[11])
    write_factor_set(s, year=YEAR, job_id=j2, rows=[_row("Desktop", 0.2), _row("Monitor", 0.1)],
                     scope_dets=[11])
    write_factor_set(s, year=YEAR, job_id=j3, rows=[_row("Laptop", 0.1), _row("Desktop", 0.2)],
                     scope_dets=[11])
    # An unchanged file changes nothing, so it records nothing.
    write_factor_set(s, year=YEAR, job_id=j4, rows=[_row("Laptop", 0.1), _row("Desktop", 0.2)],
                     scope_dets=[11])
    ids = _ids(s)
    lap, desk, mon = (_row(c, e)[3] for c, e in (("Laptop", 0.1), ("Desktop", 0.2),
                                                 ("Monitor", 0.1)))
    assert _timeline(s, ids["Laptop"]) == [
        (1, "inserted", j1, "op1", None, lap), (2, "retired", j2, "op2", lap, lap),
        (3, "revived", j3, "op3", lap, lap)]
    assert _timeline(s, ids["Desktop"]) == [
        (1, "inserted", j1, "op1", None, _row("Desktop", 0.1)[3]),
        (2, "updated", j2, "op2", _row("Desktop", 0.1)[3], desk)]
    assert _timeline(s, ids["Monitor"]) == [
        (1, "inserted", j2, "op2", None, mon), (2, "retired", j3, "op3", mon, mon)]
    assert factor_changes(s, ids["Desktop"])[1].changed_keys == ["ef_kg_co2eq_per_kwh"]
    now = versions_at(s, list(ids.values()))
    assert {k: (now[v].version, now[v].job_id) for k, v in ids.items()} == {
        "Laptop": (3, j3), "Desktop": (2, j2), "Monitor": (2, j3)}
    assert s.scalar(select(FactorHistory.id).where(FactorHistory.job_id == j4)) is None
