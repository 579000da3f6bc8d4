"""The whole pipeline on PostgreSQL + Redis with a real worker: upload → ingest → chunked
recalculation → coalesced aggregation, then a factor revision and a stale-only rerun."""

from __future__ import annotations

import re
from dataclasses import asdict

import pytest

from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.status import year_status
from carbon_tasks import operations as ops

from .helpers import UNITS_CSV, emissions, jobs_of, module_stats, wait_pipeline

pytestmark = pytest.mark.integration

IT_FACTORS = (
    "equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
    "Laptop,Standard,100,10,{ef}\n"
)
IT_ENTRIES = "unit_institutional_id,equipment_id,name,equipment_class,sub_class," \
    "active_usage_hours_per_week,standby_usage_hours_per_week\n" + "".join(
        f"{u},INV-{i},Laptop {i},Laptop,Standard,40,128\n"
        for i, u in enumerate(["UA", "UA", "UA", "UB", "UB"]))


def _upload(kind: str, body: str, **kw) -> str:  # type: ignore[no-untyped-def]
    acc = ops.start_upload(kind, body.encode(), created_by="test", **kw)
    p = wait_pipeline(acc.pipeline_id)
    assert p.status == "SUCCESS", [(j.job_type, j.result, j.status_message)
                                   for j in jobs_of(acc.pipeline_id)]
    return acc.pipeline_id


def test_upload_recalculate_aggregate_then_revise_factors(db, worker) -> None:  # type: ignore[no-untyped-def]
    _upload("units", UNITS_CSV, year=2025)
    _upload("factors", IT_FACTORS.format(ef="0.1"), module=4, det=11, year=2025)
    pid = _upload("data-entries", IT_ENTRIES, module=4, det=11, year=2025)

    kinds = [(j.job_type, j.state, j.result) for j in jobs_of(pid)]
    assert kinds == [("csv_ingest", "FINISHED", "SUCCESS"),
                     ("emission_recalc", "FINISHED", "SUCCESS"),
                     ("aggregation", "FINISHED", "SUCCESS")]
    (agg,) = [j for j in jobs_of(pid) if j.job_type == "aggregation"]
    # Every equipment module of the year is recomputed; the two units' changed, and so did
    # their two reports.
    assert re.fullmatch(r"Aggregated \d+ unit modules: 2 changed, 2 reports updated \(1 run\)",
                        agg.status_message or ""), agg.status_message
    rows = emissions(11)
    assert len(rows) == 5
    # (40 h × 100 W + 128 h × 10 W) × 52 weeks / 1000 = 274.56 kWh × 0.1 = 27.456 kg
    assert all(r[1] == 80200 and r[2] == 2 and r[3] == pytest.approx(27.456) for r in rows)
    stats = module_stats("LAB-A", 4, 2025)
    assert stats["scope2"] == pytest.approx(3 * 27.456)
    assert stats["total"] == pytest.approx(3 * 27.456)
    assert stats["entry_count"] == 3 and stats["missing_factors"] == 0
    assert module_stats("LAB-B", 4, 2025)["total"] == pytest.approx(2 * 27.456)
    with session_scope() as s:
        status = [asdict(m) for m in year_status(s, 2025)]
    assert [(m["module_type_id"], m["needs_recalculation"]) for m in status] == [(4, False)]

    # A revised factor file, without recalculation: the type becomes stale.
    _upload("factors", IT_FACTORS.format(ef="0.2"), module=4, det=11, year=2025)
    with session_scope() as s:
        (module,) = [asdict(m) for m in year_status(s, 2025)]
    it = next(t for t in module["data_entry_types"] if t["data_entry_type_id"] == 11)
    assert it["needs_recalculation"] and module["needs_recalculation"]

    acc = ops.trigger_module_recalculation(module=4, year=2025, only_stale=True, created_by="t")
    p = wait_pipeline(acc.pipeline_id)
    assert p.status == "SUCCESS"
    root = jobs_of(acc.pipeline_id)[0]
    # The module-level job mirrors its types' progress and its current type's message.
    assert root.job_type == "module_emission_recalc" and root.result == "SUCCESS"
    assert root.meta["progress"] == {"done": 5, "total": 5}
    assert all(r[3] == pytest.approx(54.912) for r in emissions(11))
    assert module_stats("LAB-A", 4, 2025)["total"] == pytest.approx(3 * 54.912)
    with session_scope() as s:
        (module,) = [asdict(m) for m in year_status(s, 2025)]
    assert not module["needs_recalculation"]
    with pytest.raises(ops.NothingToRecalculate):
        ops.trigger_module_recalculation(module=4, year=2025, only_stale=True, created_by="t")
