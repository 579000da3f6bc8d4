"""The pipelines listing and detail of the operations console (issue 15): filters,
counts_by_status over the whole filtered result, phases, stuck jobs, coalesced
aggregations and the timeline, over HTTP on PostgreSQL.

The filter and stuck cases build their history with the job service (pipelines of every
status, authors, kinds and dates, a job whose heartbeat stopped an hour ago); phases,
timeline and coalescing are also checked on real pipelines run by the test worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Pipeline
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs as job_service
from carbon_domain.services.jobs import pipelines
from carbon_domain.settings import get_settings
from carbon_tasks import operations as ops

from .api_support import Tokens
from .helpers import UNITS_CSV, jobs_of, wait_pipeline

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
EQUIP_FACTORS = (
    "equipment_category,equipment_class,sub_class,active_power_w,standby_power_w,"
    "ef_kg_co2eq_per_kwh\n"
    "scientific,Spectrometers,,200,20,0.1\n"
    "it,Laptop,Standard,100,10,0.1\n"
    "other,Lab Freezer,,300,300,0.1\n")
IT_ENTRIES = ("unit_institutional_id,equipment_category,equipment_id,name,equipment_class,"
              "sub_class,active_usage_hours_per_week,standby_usage_hours_per_week\n"
              "UA,it,E1,Laptop 1,Laptop,Standard,40,128\n"
              "UB,it,E2,Laptop 2,Laptop,Standard,40,128\n")


@pytest.fixture
def client(db: str) -> Iterator[TestClient]:
    """The app without a worker: these histories are rows, nothing is meant to run."""
    from carbon_api.app import app

    with TestClient(app, raise_server_exceptions=True) as c:
        yield c


def make_pipeline(kind: JobType, module: int, year: int, by: str, created: datetime,
                  jobs: list[tuple[JobType, str, str | None]]) -> uuid.UUID:
    """A pipeline and its jobs (type, state, result); status recomputed from the rows."""
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=kind, module_type_id=module, year=year,
                                        created_by=by)
        for i, (jt, state, result) in enumerate(jobs):
            j = job_service.create_job(
                s, pipeline_id=p.id, job_type=jt, target_type=TargetType.DATA_ENTRIES,
                ingestion_method=IngestionMethod.csv, module_type_id=module,
                data_entry_type_id=None if jt == JobType.aggregation else 10 + i % 3,
                year=year, created_by=by, message=f"job {i} of {by}")
            j.state, j.result = state, result
            j.created_at = created + timedelta(seconds=i)
            if state != "NOT_STARTED":
                j.started_at = created + timedelta(seconds=i, milliseconds=100)
            if state == "FINISHED":
                j.finished_at = created + timedelta(seconds=i + 1)
                if result == "ERROR":
                    j.status_message = f"ERROR: job {i} of {by} failed"
        s.flush()
        pipelines.recompute_pipeline_status(s, p.id)
        p.created_at, p.started_at = created, created
        return p.id


OK, ERR = ("FINISHED", "SUCCESS"), ("FINISHED", "ERROR")


@pytest.fixture
def history(client: TestClient) -> dict[str, uuid.UUID]:
    ids = {}
    for i in range(3):
        ids[f"ok{i}"] = make_pipeline(JobType.factor_ingest, 4, 2025, "alice",
                                      T0 + timedelta(days=i),
                                      [(JobType.factor_ingest, *OK)])
    for i in range(2):
        ids[f"failed{i}"] = make_pipeline(JobType.csv_ingest, 4, 2025, "bob",
                                          T0 + timedelta(days=3 + i),
                                          [(JobType.csv_ingest, *ERR)])
    ids["partial"] = make_pipeline(JobType.emission_recalc, 3, 2024, "alice",
                                   T0 + timedelta(days=5),
                                   [(JobType.emission_recalc, *OK), (JobType.aggregation, *ERR)])
    ids["running"] = make_pipeline(JobType.module_emission_recalc, 4, 2025, "carol",
                                   T0 + timedelta(days=6),
                                   [(JobType.emission_recalc, "RUNNING", None)])
    return ids


def page(client: TestClient, tokens: Tokens, **params: Any) -> dict[str, Any]:
    r = client.get("/v1/sync/pipelines", params=params, headers=tokens.view)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_filters_and_counts_over_the_whole_filtered_result(
        client: TestClient, tokens: Tokens, history: dict[str, uuid.UUID]) -> None:
    everything = {"SUCCESS": 3, "FAILED": 2, "PARTIAL": 1, "RUNNING": 1}
    p = page(client, tokens, limit=2)
    assert (len(p["items"]), p["total"], p["counts_by_status"]) == (2, 7, everything)
    assert p["items"][0]["pipeline_id"] == str(history["running"])  # newest first
    cases: list[tuple[dict[str, Any], dict[str, int]]] = [
        ({"created_by": "alice"}, {"SUCCESS": 3, "PARTIAL": 1}),
        ({"has_errors": "true"}, {"FAILED": 2, "PARTIAL": 1}),
        ({"has_errors": "false"}, {"SUCCESS": 3, "RUNNING": 1}),
        ({"kind": "csv_ingest"}, {"FAILED": 2}),
        ({"module_type_id": 3}, {"PARTIAL": 1}),
        ({"year": 2024}, {"PARTIAL": 1}),
        ({"status": "SUCCESS", "created_by": "alice", "limit": 1}, {"SUCCESS": 3}),
        # created_after inclusive, created_before exclusive: days 2, 3 and 4.
        ({"created_after": "2026-01-02T09:00:00Z", "created_before": "2026-01-05T09:00:00Z"},
         {"SUCCESS": 2, "FAILED": 1}),
        # Without an offset: UTC.
        ({"created_after": "2026-01-07T09:00:00"}, {"RUNNING": 1}),
        ({"created_by": "nobody"}, {}),
    ]
    for params, counts in cases:
        p = page(client, tokens, **params)
        assert p["counts_by_status"] == counts, params
        assert p["total"] == sum(counts.values()), params
        assert len(p["items"]) == min(sum(counts.values()), int(params.get("limit", 50)))


def test_rows_carry_phases_duration_and_message(
        client: TestClient, tokens: Tokens, history: dict[str, uuid.UUID]) -> None:
    items = {i["pipeline_id"]: i for i in page(client, tokens)["items"]}
    failed = items[str(history["failed0"])]
    assert failed["message"] == "ERROR: job 0 of bob failed"
    assert failed["duration_seconds"] == pytest.approx(1.0)
    ingest, recalc, agg = failed["phases"]
    assert (ingest["name"], ingest["state"], ingest["result"]) == ("ingest", "finished", "ERROR")
    assert (recalc["state"], agg["state"]) == ("absent", "absent")
    partial = items[str(history["partial"])]
    assert [(ph["state"], ph["result"]) for ph in partial["phases"]] == [
        ("absent", None), ("finished", "SUCCESS"), ("finished", "ERROR")]
    running = items[str(history["running"])]
    assert running["phases"][1]["state"] == "running" and running["duration_seconds"] > 0
    assert running["message"] == "job 0 of carol"
    # The detail is streamed on every change: no ever-growing duration while it runs.
    detail = client.get(f"/v1/sync/pipelines/{history['running']}", headers=tokens.view).json()
    assert detail["duration_seconds"] is None and detail["message"] == "job 0 of carol"
    detail = client.get(f"/v1/sync/pipelines/{history['failed0']}", headers=tokens.view).json()
    assert detail["duration_seconds"] == pytest.approx(1.0)


def test_bad_filters_are_422(client: TestClient, tokens: Tokens) -> None:
    for bad in ({"status": "DONE"}, {"kind": "nope"}, {"has_errors": "maybe"},
                {"created_after": "yesterday"}, {"created_before": "2026-13-01"},
                {"created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01"},
                {"created_by": ""}, {"created_by": "x" * 129}, {"module_type_id": 0},
                {"year": 3000}, {"limit": 0}):
        r = client.get("/v1/sync/pipelines", params=bad, headers=tokens.view)
        assert r.status_code == 422, (bad, r.text)
    r = client.get("/v1/sync/pipelines", headers=tokens.view, params={
        "created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"})
    assert "later than created_before" in r.json()["detail"][0]["msg"]


def test_stuck_jobs_are_flagged(client: TestClient, tokens: Tokens) -> None:
    pid = make_pipeline(JobType.module_emission_recalc, 4, 2025, "carol", T0, [
        (JobType.emission_recalc, "RUNNING", None), (JobType.emission_recalc, "RUNNING", None),
        (JobType.emission_recalc, "FINISHED", "SUCCESS")])
    limit = get_settings().stale_job_seconds
    with session_scope() as s:
        a, b, c = s.query(Job).filter(Job.pipeline_id == pid).order_by(Job.id).all()
        a.heartbeat_at = utcnow() - timedelta(seconds=limit + 60)  # silent too long
        b.heartbeat_at = utcnow() - timedelta(seconds=5)  # alive
        c.heartbeat_at = utcnow() - timedelta(seconds=limit * 3)  # finished: never stuck
        ids = a.id, b.id, c.id
    detail = client.get(f"/v1/sync/pipelines/{pid}", headers=tokens.view).json()
    assert [(j["id"], j["stuck"]) for j in detail["jobs"]] == [
        (ids[0], True), (ids[1], False), (ids[2], False)]
    assert client.get(f"/v1/sync/jobs/{ids[0]}", headers=tokens.view).json()["stuck"]
    beats = [e for e in detail["timeline"] if e["event"] == "heartbeat"]
    assert [(e["job_id"], e["detail"]) for e in beats] == [
        (ids[2], "last heartbeat"), (ids[0], "last heartbeat (stuck)"),
        (ids[1], "last heartbeat")]


def test_aggregation_says_how_many_recalculations_it_coalesced(
        client: TestClient, tokens: Tokens) -> None:
    def job(jt: JobType, module: int, finished: datetime | None, pid: Any = None) -> int:
        with session_scope() as s:
            j = job_service.create_job(
                s, pipeline_id=pid, job_type=jt, target_type=TargetType.DATA_ENTRIES,
                ingestion_method=IngestionMethod.computed, module_type_id=module,
                data_entry_type_id=None if jt == JobType.aggregation else 11, year=2025)
            j.state, j.result = ("FINISHED", "SUCCESS") if finished else ("RUNNING", None)
            j.finished_at = finished
            s.flush()
            return j.id

    first = job(JobType.aggregation, 4, T0)
    recalcs = [job(JobType.emission_recalc, 4, T0 + timedelta(seconds=i)) for i in (1, 2, 3)]
    job(JobType.emission_recalc, 3, T0 + timedelta(seconds=2))  # another module: not ours
    with session_scope() as s:
        pid = pipelines.create_pipeline(s, kind="emission_recalc", module_type_id=4,
                                          year=2025, created_by="t").id
    second = job(JobType.aggregation, 4, T0 + timedelta(seconds=5), pid)
    late = job(JobType.emission_recalc, 4, T0 + timedelta(seconds=6))
    third = job(JobType.aggregation, 4, None, pid)  # still running: covers what came since
    detail = client.get(f"/v1/sync/pipelines/{pid}", headers=tokens.view).json()
    aggs = {j["id"]: j for j in detail["jobs"]}
    assert (aggs[second]["coalesced_recalculations"],
            aggs[second]["coalesced_recalculation_job_ids"]) == (3, recalcs)
    assert aggs[third]["coalesced_recalculation_job_ids"] == [late]
    assert first not in aggs


def test_real_pipeline_phases_timeline_and_coalescing(
        api: TestClient, tokens: Tokens) -> None:
    for kind, body, kw in (("units", UNITS_CSV, {}), ("factors", EQUIP_FACTORS, {"module": 4})):
        acc = ops.start_upload(kind, body.encode(), created_by="test", year=2025, **kw)
        assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    acc = ops.start_upload("data-entries", IT_ENTRIES.encode(), created_by="test", module=4,
                           det=11, year=2025)
    assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    detail = api.get(f"/v1/sync/pipelines/{acc.pipeline_id}", headers=tokens.view).json()
    assert [(ph["name"], ph["state"], ph["result"]) for ph in detail["phases"]] == [
        ("ingest", "finished", "SUCCESS"), ("recalculation", "finished", "SUCCESS"),
        ("aggregation", "finished", "SUCCESS")]
    recalc = detail["phases"][1]
    assert (recalc["chunks_done"], recalc["chunks_total"], recalc["chunks_failed"],
            recalc["label"]) == (1, 1, 0, "chunks 1/1")
    assert not any(j["stuck"] for j in detail["jobs"])
    recalc_id = next(j["id"] for j in detail["jobs"] if j["job_type"] == "emission_recalc")
    agg = next(j for j in detail["jobs"] if j["job_type"] == "aggregation")
    assert (agg["coalesced_recalculations"], agg["coalesced_recalculation_job_ids"]) == (
        1, [recalc_id])
    timeline = detail["timeline"]
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)
    assert (timeline[0]["event"], timeline[0]["job_id"]) == ("created", None)
    assert (timeline[-1]["event"], timeline[-1]["detail"]) == ("finished", "SUCCESS")
    for j in detail["jobs"]:
        mine = [e["event"] for e in timeline if e["job_id"] == j["id"]]
        assert mine[0] == "created" and mine[-1] == "finished" and "started" in mine, mine
    listed = next(i for i in api.get("/v1/sync/pipelines", headers=tokens.view).json()["items"]
                  if i["pipeline_id"] == acc.pipeline_id)
    assert listed["phases"] == detail["phases"]
    # Every type of the module at once: one pipeline, its aggregations cover all three.
    acc = ops.trigger_module_recalculation(module=4, year=2025, only_stale=False,
                                           created_by="test")
    assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    detail = api.get(f"/v1/sync/pipelines/{acc.pipeline_id}", headers=tokens.view).json()
    n_recalcs = sum(j["job_type"] == "emission_recalc" for j in detail["jobs"])
    assert n_recalcs == 3
    assert sum(j["coalesced_recalculations"] or 0 for j in detail["jobs"]
               if j["job_type"] == "aggregation") == 3
    assert len(jobs_of(acc.pipeline_id)) >= 5  # root, 3 types, at least 1 aggregation
    with session_scope() as s:
        assert s.get(Pipeline, uuid.UUID(acc.pipeline_id)) is not None
