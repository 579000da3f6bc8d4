"""The recalculation status the console reads (issue 15): stale reasons, incomplete flags,
in-progress markers, module totals and the recalculation preview, on PostgreSQL.

Real uploads and recalculations run on the test worker; a few cases that need a job
history the pipeline does not produce on demand (a data upload whose recalculation never
ran, a recalculation that failed, a waiting recalculation that covers a later upload) add
job rows the way the job service writes them.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import IngestionMethod, JobState, JobType, TargetType
from carbon_domain.db.models import CarbonReport, CarbonReportModule, DataEntry
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs as job_service
from carbon_domain.services.jobs import pipelines
from carbon_domain.services.reads.status import (
    ModuleStatus,
    TypeStatus,
    recalculation_preview,
    stale_types,
    year_status,
)
from carbon_tasks import operations as ops

from .helpers import UNITS_CSV, jobs_of, module_stats, wait_pipeline

pytestmark = pytest.mark.integration
YEAR = 2025
EQUIP_FACTORS = (
    "equipment_category,equipment_class,sub_class,active_power_w,standby_power_w,"
    "ef_kg_co2eq_per_kwh\n"
    "scientific,Spectrometers,,200,20,0.1\n"
    "it,Laptop,Standard,100,10,0.1\n"
    "other,Lab Freezer,,300,300,0.1\n")
IT_FACTORS = ("equipment_category,equipment_class,sub_class,active_power_w,standby_power_w,"
              "ef_kg_co2eq_per_kwh\nit,Laptop,Standard,100,10,0.2\n")
IT_ENTRIES = ("unit_institutional_id,equipment_category,equipment_id,name,equipment_class,"
              "sub_class,active_usage_hours_per_week,standby_usage_hours_per_week\n"
              "UA,it,E1,Laptop 1,Laptop,Standard,40,128\n"
              "UA,it,E2,Laptop 2,Laptop,Standard,40,128\n"
              "UB,it,E3,Laptop 3,Laptop,Standard,40,128\n")


def upload(kind: str, body: str, **kw: Any) -> str:
    acc = ops.start_upload(kind, body.encode(), created_by="test", **kw)
    p = wait_pipeline(acc.pipeline_id)
    assert p.status == "SUCCESS", [(j.job_type, j.result, j.status_message)
                                   for j in jobs_of(acc.pipeline_id)]
    return acc.pipeline_id


def module_of(module: int) -> ModuleStatus:
    with session_scope() as s:
        return next(m for m in year_status(s, YEAR) if m.module_type_id == module)


def type_of(module: int, det: int) -> TypeStatus:
    return next(t for t in module_of(module).data_entry_types if t.data_entry_type_id == det)


def add_job(job_type: JobType, module: int, det: int | None, *, state: str = "FINISHED",
            result: str | None = "SUCCESS", by: str = "bob", message: str | None = None,
            meta: dict[str, Any] | None = None, pipeline: bool = False) -> Job:
    """A job row as the job service writes it (then moved to ``state``/``result``)."""
    target = {JobType.factor_ingest: TargetType.FACTORS,
              JobType.aggregation: TargetType.STATISTICS}.get(job_type, TargetType.DATA_ENTRIES)
    with session_scope() as s:
        pid = pipelines.create_pipeline(s, kind=job_type, module_type_id=module, year=YEAR,
                                          created_by=by).id if pipeline else None
        job = job_service.create_job(
            s, pipeline_id=pid, job_type=job_type, target_type=target,
            ingestion_method=IngestionMethod.csv, module_type_id=module,
            data_entry_type_id=det, year=YEAR, created_by=by)
        job.state, job.result = state, result
        job.meta = {**job.meta, **(meta or {})}
        if message:
            job.status_message = message
        if state == JobState.FINISHED:
            job.finished_at = utcnow()
        s.flush()
        s.expunge(job)
        return job


def stamp(at: datetime | None) -> str:
    assert at is not None
    return f"{at:%Y-%m-%d %H:%M}"


@pytest.fixture
def equipment(db: str, worker: Any) -> dict[str, int]:
    """Units, the module's factors, three IT entries recalculated and aggregated."""
    upload("units", UNITS_CSV, year=YEAR)
    (factors,) = jobs_of(upload("factors", EQUIP_FACTORS, module=4, year=YEAR))
    pid = upload("data-entries", IT_ENTRIES, module=4, det=11, year=YEAR)
    recalc = next(j for j in jobs_of(pid) if j.job_type == JobType.emission_recalc)
    return {"recalc": recalc.id, "factors": factors.id}


# -- stale reasons -----------------------------------------------------------------------------

def test_factor_upload_newer_than_recalculation(equipment: dict[str, int],
                                                api: TestClient, tokens: Any) -> None:
    it = type_of(4, 11)
    assert (it.needs_recalculation, it.stale_reason) == (False, None)
    assert it.last_recalculation is not None and it.last_recalculation.result == "SUCCESS"
    assert it.entry_count == 3 and it.entries_without_factor == 0
    pid = upload("factors", IT_FACTORS, module=4, det=11, year=YEAR)
    (factor_job,) = jobs_of(pid)
    it = type_of(4, 11)
    assert it.needs_recalculation and module_of(4).needs_recalculation
    assert it.stale_reason == (f"factor upload #{factor_job.id} of "
                               f"{stamp(factor_job.created_at)} by test is newer than "
                               f"recalculation #{equipment['recalc']}")
    ref = it.last_input_job
    assert (ref.id, ref.kind, ref.label, ref.created_by, ref.module_wide) == (
        factor_job.id, "factor_ingest", "factor upload", "test", False)
    # The page and the API agree: the same text over HTTP.
    (module,) = api.get("/v1/sync/recalculation-status", params={"year": YEAR},
                        headers=tokens.view).json()
    it_json = next(t for t in module["data_entry_types"] if t["data_entry_type_id"] == 11)
    assert it_json["stale_reason"] == it.stale_reason
    assert it_json["last_input_job"]["created_by"] == "test"
    # 10 and 12 have factors, no entry and no run: nothing to recalculate (not stale).
    assert stale_types_of(4) == [11]
    acc = ops.trigger_recalculation(module=4, det=11, year=YEAR, created_by="test")
    assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    it = type_of(4, 11)
    assert (it.needs_recalculation, it.stale_reason) == (False, None)
    assert it.last_recalculation is not None and it.last_recalculation.id == acc.job_id


def stale_types_of(module: int) -> list[int]:
    with session_scope() as s:
        return stale_types(s, module, YEAR)


def test_never_recalculated(db: str, worker: Any) -> None:
    upload("units", UNITS_CSV, year=YEAR)
    pid = upload("factors", EQUIP_FACTORS, module=4, year=YEAR)
    (factor_job,) = jobs_of(pid)
    module = module_of(4)
    assert [t.data_entry_type_id for t in module.data_entry_types] == [10, 11, 12]
    for t in module.data_entry_types:
        # Factors and no entry: nothing to recalculate (tests/integration/
        # test_empty_type_status.py), up to date with no entries.
        assert not t.needs_recalculation and t.last_recalculation is None
        assert (t.stale_reason, t.state_label) == (None, "✓ up to date (no entries)")
        assert t.last_input_job.module_wide
        # No entries: nothing is missing for the year.
        assert (t.entry_count, t.incomplete, t.incomplete_reasons) == (0, False, [])
    assert stale_types_of(4) == []
    # Entries of one type that no recalculation computed yet: that type needs one.
    add_job(JobType.csv_ingest, 4, 11)
    _entry(11, 4, {"equipment_class": "Laptop", "sub_class": "Standard"})
    it = type_of(4, 11)
    assert it.needs_recalculation and it.entry_count == 1
    assert it.stale_reason is not None and it.stale_reason.startswith(
        "never recalculated since data entry upload #")
    assert stale_types_of(4) == [11]


def test_data_upload_newer_than_recalculation(equipment: dict[str, int]) -> None:
    # A data upload whose recalculation never ran (e.g. its trigger was lost).
    data_job = add_job(JobType.csv_ingest, 4, 11, by="carol")
    it = type_of(4, 11)
    assert it.needs_recalculation
    assert it.stale_reason == (f"data entry upload #{data_job.id} of "
                               f"{stamp(data_job.created_at)} by carol is newer than "
                               f"recalculation #{equipment['recalc']}")
    assert it.last_input_job.kind == "csv_ingest"
    # Other types of the module saw no new input; with factors and no entry they have
    # nothing to recalculate.
    assert type_of(4, 10).stale_reason is None


def test_failed_recalculation_reason(equipment: dict[str, int]) -> None:
    factor_job = add_job(JobType.factor_ingest, 4, 11, by="alice")
    failed = add_job(JobType.emission_recalc, 4, 11, result="ERROR",
                     message="ERROR: 1 of 2 chunks of it did not complete")
    it = type_of(4, 11)
    assert it.needs_recalculation
    assert it.stale_reason == (f"recalculation #{failed.id} failed after factor upload "
                               f"#{factor_job.id} of {stamp(factor_job.created_at)} by alice: "
                               "ERROR: 1 of 2 chunks of it did not complete")
    assert it.last_recalculation is not None and it.last_recalculation.result == "ERROR"
    assert it.last_successful_recalculation_job_id == equipment["recalc"]


def test_waiting_recalculation_covers_a_later_upload(equipment: dict[str, int]) -> None:
    waiting = add_job(JobType.emission_recalc, 4, 11, state="QUEUED", result=None)
    factor_job = add_job(JobType.factor_ingest, 4, 11)
    assert type_of(4, 11).recalculation_in_progress

    def finish(covers: int | None) -> None:
        with session_scope() as s:
            job = s.get(Job, waiting.id)
            assert job is not None
            job.covers_input_job_id = covers
            job.state, job.result, job.finished_at = "FINISHED", "SUCCESS", utcnow()

    finish(None)  # finished without having read the later upload: still stale
    assert type_of(4, 11).needs_recalculation
    finish(factor_job.id)  # it read it (the upload arrived before it started)
    it = type_of(4, 11)
    assert (it.needs_recalculation, it.recalculation_in_progress) == (False, False)


# -- incomplete ----------------------------------------------------------------------------------

def test_incomplete_without_live_factors(equipment: dict[str, int]) -> None:
    it = type_of(4, 11)
    assert (it.incomplete, it.live_factor_count) == (False, 1)
    with session_scope() as s:
        s.execute(text("UPDATE factors SET retired_at = now() WHERE data_entry_type_id = 11"))
    it = type_of(4, 11)
    assert it.incomplete and it.live_factor_count == 0
    assert it.incomplete_reasons == [f"no live factors for {YEAR} although it has 3 entries"]
    assert module_of(4).incomplete


def _entry(det: int, module: int, data: dict[str, Any]) -> None:
    with session_scope() as s:
        crm = s.scalars(select(CarbonReportModule).join(
            CarbonReport, CarbonReport.id == CarbonReportModule.carbon_report_id).where(
            CarbonReport.year == YEAR, CarbonReportModule.module_type_id == module)).first()
        assert crm is not None
        report = s.get(CarbonReport, crm.carbon_report_id)
        assert report is not None
        s.add(DataEntry(carbon_report_module_id=crm.id, data_entry_type_id=det, data=data,
                        year=YEAR, unit_id=report.unit_id))


def test_incomplete_reference_data(db: str, worker: Any) -> None:
    upload("units", UNITS_CSV, year=YEAR)
    # Entries as the ingest path stores them (one input job per type makes it listed).
    for module, det in ((3, 30), (2, 21), (5, 60)):
        add_job(JobType.csv_ingest, module, det)
    _entry(30, 3, {"building_name": "ZZ", "room_name": "ZZ 999", "room_allocation_ratio": 1})
    _entry(30, 3, {"building_name": "ZZ", "room_name": "ZZ 1",
                   "room_surface_square_meter": 12.5})  # its own surface: complete
    _entry(21, 2, {"origin_name": "Nowhereville", "destination_name": "Bern"})
    _entry(21, 2, {"origin_name": "Geneva", "destination_name": "Bern"})
    _entry(60, 5, {"currency": "XYZ", "total_spent_amount": 10})
    _entry(60, 5, {"currency": "usd", "total_spent_amount": 10})
    _entry(60, 5, {"total_spent_amount": 10})  # CHF by default: known
    building, train, spend = type_of(3, 30), type_of(2, 21), type_of(5, 60)
    no_factors = f"no live factors for {YEAR} although it has "
    assert building.incomplete_reasons == [
        no_factors + "2 entries",
        ("building rooms missing from the reference: ZZ/ZZ 999 (1 entry without a surface of "
         "their own)")]
    assert train.incomplete_reasons == [
        no_factors + "2 entries",
        "stations missing from the reference: Nowhereville (1 entry)"]
    assert spend.incomplete_reasons == [
        no_factors + "3 entries", "exchange rates missing: no rate to EUR for XYZ (1 entry)"]
    # The reference upload fixes the building: the flag follows the reference data.
    upload("building-rooms", "building_name,room_name,room_type,room_surface_square_meter\n"
                             "ZZ,ZZ 999,office,20\n")
    assert type_of(3, 30).incomplete_reasons == [no_factors + "2 entries"]


# -- in progress, totals, preview ------------------------------------------------------------------

def test_in_progress_markers(equipment: dict[str, int]) -> None:
    module = module_of(4)
    assert not (module.aggregation_in_progress or module.recalculation_in_progress)
    active = add_job(JobType.emission_recalc, 4, 12, state="QUEUED", result=None,
                     pipeline=True)
    module = module_of(4)
    other = next(t for t in module.data_entry_types if t.data_entry_type_id == 12)
    assert other.recalculation_in_progress and module.recalculation_in_progress
    assert other.active_recalculation_job_id == active.id
    assert other.active_pipeline_id == str(active.pipeline_id)
    assert module.aggregation_in_progress  # a recalculation touches the module's stats
    with session_scope() as s:
        s.execute(update(Job).where(Job.id == active.id).values(
            state="FINISHED", result="SUCCESS", finished_at=utcnow()))
    agg = add_job(JobType.aggregation, 4, None, state="RUNNING", result=None)
    module = module_of(4)
    assert not module.recalculation_in_progress
    assert module.aggregation_in_progress and module.active_aggregation_job_id == agg.id
    with session_scope() as s:
        s.execute(update(Job).where(Job.id == agg.id).values(
            state="FINISHED", result="SUCCESS", finished_at=utcnow()))
    assert not module_of(4).aggregation_in_progress


def test_module_totals_and_preview(equipment: dict[str, int]) -> None:
    module = module_of(4)
    kg = sum(module_stats(u, 4, YEAR)["total"] for u in ("LAB-A", "LAB-B"))
    assert kg > 0
    assert module.totals_kg.total == pytest.approx(kg)
    assert module.totals_t.total == pytest.approx(kg / 1000)
    assert module.totals_kg.scope2 == pytest.approx(kg)  # equipment is electricity: scope 2
    assert module.computed_at is not None
    with session_scope() as s:
        preview = recalculation_preview(s, 4, YEAR)
        as_dicts = [asdict(m) for m in year_status(s, YEAR)]
    # Nothing is stale: a full run rewrites IT's 3 entries, "only stale" none of them.
    assert [(p.data_entry_type_id, p.entry_count, p.entries_to_recalculate)
            for p in preview] == [(10, 0, 0), (11, 3, 0), (12, 0, 0)]
    assert [p.needs_recalculation for p in preview] == [
        t["needs_recalculation"] for t in as_dicts[0]["data_entry_types"]]
    assert as_dicts[0]["totals_t"]["total"] == pytest.approx(kg / 1000)


def test_preview_route(equipment: dict[str, int], api: TestClient, tokens: Any) -> None:
    upload("factors", IT_FACTORS, module=4, det=11, year=YEAR)
    r = api.get("/v1/sync/recalculation-preview/4", params={"year": YEAR},
                headers=tokens.view)
    assert r.status_code == 200, r.text
    it = next(t for t in r.json()["data_entry_types"] if t["data_entry_type_id"] == 11)
    assert it["needs_recalculation"] and it["entries_to_recalculate"] == 3
    assert it["stale_reason"].startswith("factor upload #")
    for bad in ({"year": 1999}, {}):
        assert api.get("/v1/sync/recalculation-preview/4", params=bad,
                       headers=tokens.view).status_code == 422
    assert api.get("/v1/sync/recalculation-preview/99", params={"year": YEAR},
                   headers=tokens.view).status_code == 422


def test_history_does_not_change_the_answer(equipment: dict[str, int]) -> None:
    """Hundreds of older jobs (with row errors in their meta) leave the status as it was."""
    before = [(t.data_entry_type_id, t.needs_recalculation) for t in module_of(4).data_entry_types]
    errors = [{"row": i, "reason": "x" * 80} for i in range(20)]
    with session_scope() as s:
        s.execute(text(
            "INSERT INTO data_ingestion_jobs (job_type, module_type_id, data_entry_type_id,"
            " year, target_type, ingestion_method, state, result, meta)"
            " SELECT CASE WHEN g % 2 = 0 THEN 'factor_ingest' ELSE 'emission_recalc' END,"
            " 4, 11, :y, 'FACTORS', 'csv', 'FINISHED', 'WARNING', CAST(:m AS jsonb)"
            " FROM generate_series(1, 400) g"), {"y": YEAR, "m": _json({"row_errors": errors})})
    # The last inserted job (g = 400) is a factor upload: IT is stale, the others unchanged.
    after = {t.data_entry_type_id: t.needs_recalculation for t in module_of(4).data_entry_types}
    assert after[11] is True
    assert [(d, after[d]) for d, _ in before if d != 11] == [b for b in before if b[0] != 11]


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def test_counts_follow_a_new_upload(equipment: dict[str, int]) -> None:
    """Entry counts and reference checks are cached until the entries change: a replacing
    upload is seen at once."""
    assert type_of(4, 11).entry_count == 3
    upload("data-entries", "\n".join(IT_ENTRIES.splitlines()[:3]) + "\n", module=4, det=11,
           year=YEAR)
    it = type_of(4, 11)
    assert (it.entry_count, it.needs_recalculation) == (2, False)
    with session_scope() as s:
        s.execute(text("DELETE FROM data_entries WHERE data_entry_type_id = 11"))
    assert type_of(4, 11).entry_count == 0
