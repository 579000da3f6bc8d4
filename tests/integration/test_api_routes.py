"""Every route with real data: catalog, status, jobs, pipelines (filters, paging, abort),
reports and stats, workers; validation (422/404), request ids, JSON logs, database outage."""

from __future__ import annotations

import io
import json
import logging
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon_api.logging import JsonFormatter
from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.settings import get_settings

from .api_support import Tokens, insert_entry, row_counts, upload, wait_pipeline
from .helpers import UNITS_CSV

pytestmark = pytest.mark.integration

IT_FACTORS = ("equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
              "Laptop,Standard,100,10,0.1\n")
IT_ENTRIES = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
              "active_usage_hours_per_week,standby_usage_hours_per_week\n"
              "UA,INV-1,L1,Laptop,Standard,40,128\nUA,INV-2,L2,Laptop,Standard,40,128\n"
              "UB,INV-3,L3,Laptop,Standard,40,128\n")
KG = 27.456  # (40 h × 100 W + 128 h × 10 W) × 52 / 1000 kWh × 0.1 kg/kWh


def _done(api: TestClient, tokens: Tokens, path: str, body: str, **params: Any) -> dict[str, Any]:
    r = upload(api, path, body, tokens.op, **params)
    assert r.status_code == 202, r.text
    p = wait_pipeline(api, r.json()["pipeline_id"], tokens.op)
    assert p["status"] == "SUCCESS", p
    return p


@pytest.fixture
def loaded(api: TestClient, tokens: Tokens) -> dict[str, Any]:
    """Units, IT factors and IT entries for 2025, through the API."""
    _done(api, tokens, "/v1/sync/units", UNITS_CSV, year=2025)
    _done(api, tokens, "/v1/sync/factors/4", IT_FACTORS, year=2025, data_entry_type_id=11)
    return _done(api, tokens, "/v1/sync/data-entries/4", IT_ENTRIES, year=2025,
                 data_entry_type_id=11)


def test_catalog(api: TestClient, tokens: Tokens) -> None:
    modules = api.get("/v1/catalog/modules", headers=tokens.view).json()
    assert [m["id"] for m in modules] == list(range(1, 9))
    equipment = modules[3]
    assert equipment["name"] == "equipment"
    assert equipment["data_entry_types"] == [{"id": 10, "name": "scientific"},
                                             {"id": 11, "name": "it"},
                                             {"id": 12, "name": "other"}]
    assert sum(len(m["data_entry_types"]) for m in modules) == 23
    tree = api.get("/v1/catalog/emission-types", headers=tokens.view).json()

    def walk(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [n for node in nodes for n in [node, *walk(node["children"])]]
    nodes = walk(tree)
    assert len(nodes) == 120 and 40000 not in {n["value"] for n in nodes}
    it = next(n for n in nodes if n["path"] == "equipment__it")
    assert it == {"value": 80200, "path": "equipment__it", "name": "it", "level": 1,
                  "scope": 2, "is_leaf": True, "children": []}
    assert all(n["scope"] in (1, 2, 3) for n in nodes if n["is_leaf"])


def test_pipeline_of_an_upload_and_its_jobs(api: TestClient, tokens: Tokens,
                                            loaded: dict[str, Any]) -> None:
    kinds = [(j["job_type"], j["state"], j["result"]) for j in loaded["jobs"]]
    assert kinds == [("csv_ingest", "FINISHED", "SUCCESS"),
                     ("emission_recalc", "FINISHED", "SUCCESS"),
                     ("aggregation", "FINISHED", "SUCCESS")]
    assert loaded["progress"] == {"jobs_finished": 3, "jobs_total": 3, "done": 3, "total": 3,
                                  "finished": True}
    recalc = api.get(f"/v1/sync/jobs/{loaded['jobs'][1]['id']}", headers=tokens.view).json()
    assert recalc["progress"] == recalc["meta"]["progress"] == {"done": 3, "total": 3}
    assert recalc["meta"]["recalculation"]["entries"] == 3
    assert recalc["created_by"] == "ops-alice"
    assert recalc["pipeline_id"] == loaded["pipeline_id"]


def test_pipeline_list_filters_and_paging(api: TestClient, tokens: Tokens,
                                          loaded: dict[str, Any]) -> None:
    def page(**params: Any) -> dict[str, Any]:
        r = api.get("/v1/sync/pipelines", params=params, headers=tokens.view)
        assert r.status_code == 200, r.text
        return r.json()
    everything = page()
    assert everything["total"] == 3 and everything["limit"] == 50
    assert [p["kind"] for p in everything["items"]] == ["csv_ingest", "factor_ingest",
                                                        "unit_sync"]  # newest first
    assert page(kind="factor_ingest")["total"] == 1
    assert page(module_type_id=4, year=2025)["total"] == 2
    assert page(year=2024)["total"] == 0
    assert page(status="SUCCESS")["total"] == 3 and page(status="FAILED")["total"] == 0
    first, second = page(limit=1), page(limit=1, offset=1)
    assert first["items"][0]["pipeline_id"] != second["items"][0]["pipeline_id"]
    assert page(offset=10)["items"] == []
    item = page(kind="csv_ingest")["items"][0]
    assert item["progress"]["jobs_total"] == 3 and item["job_count"] == 3
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"status": "DONE"},
                {"kind": "nope"}, {"module_type_id": 0}, {"year": 3000}):
        assert api.get("/v1/sync/pipelines", params=bad, headers=tokens.view
                       ).status_code == 422, bad


def test_recalculation_status_keys(api: TestClient, tokens: Tokens,
                                   loaded: dict[str, Any]) -> None:
    (module,) = api.get("/v1/sync/recalculation-status", params={"year": 2025},
                        headers=tokens.view).json()
    assert set(module) == {"module_type_id", "module_name", "year", "needs_recalculation",
                           "recalculation_in_progress", "data_entry_types",
                           # additive (issue 15): totals, stats date, in-progress marker
                           "totals_kg", "totals_t", "computed_at", "aggregation_in_progress",
                           "active_aggregation_job_id", "incomplete",
                           # additive (issue 19): the module's one display state
                           "state", "state_label", "state_counts", "action",
                           "aggregation_failed", "state_detail"}
    (it,) = module["data_entry_types"]
    assert set(it) == {"module_type_id", "data_entry_type_id", "data_entry_type_name", "year",
                       "needs_recalculation", "recalculation_in_progress",
                       "last_input_job_id", "last_input_job_type", "last_input_job_result",
                       "last_recalculation_job_id", "last_recalculation_job_result",
                       # additive (issue 15): reasons, refs, counts, completeness
                       "stale_reason", "last_input_job", "last_recalculation",
                       "last_successful_recalculation_job_id", "active_recalculation_job_id",
                       "active_pipeline_id", "entry_count", "entries_without_factor",
                       "entries_with_errors", "live_factor_count", "incomplete",
                       "incomplete_reasons",
                       # additive (issue 19): the one display state, formula versions
                       "state", "state_label", "reasons", "state_detail", "action",
                       "progress", "failed_run", "formula_version", "rows_formula_version"}
    assert (it["data_entry_type_id"], it["needs_recalculation"],
            it["last_input_job_type"], it["last_recalculation_job_result"]) == (
        11, False, "csv_ingest", "SUCCESS")
    assert (it["state"], it["reasons"], it["action"], module["state"]) == (
        "up_to_date", [], "Recalculate", "up_to_date")
    assert api.get("/v1/sync/recalculation-status", params={"year": 2030},
                   headers=tokens.view).json() == []
    for bad in ({}, {"year": "x"}, {"year": 1999}, {"year": 10**30}):
        assert api.get("/v1/sync/recalculation-status", params=bad,
                       headers=tokens.view).status_code == 422


def test_reports_and_module_stats(api: TestClient, tokens: Tokens,
                                  loaded: dict[str, Any]) -> None:
    page = api.get("/v1/reports", params={"year": 2025}, headers=tokens.view).json()
    assert page["total"] == 2
    lab_a = page["items"][0]
    assert lab_a["unit"]["institutional_code"] == "LAB-A"
    assert lab_a["stats"]["total"] == pytest.approx(2 * KG)
    assert [m["module_type_id"] for m in lab_a["modules"]] == list(range(1, 9))
    only_b = api.get("/v1/reports", params={"year": 2025, "unit": "LAB-B"},
                     headers=tokens.view).json()
    assert [r["unit"]["institutional_code"] for r in only_b["items"]] == ["LAB-B"]
    r = api.get("/v1/reports", params={"year": 2025, "unit": "NOPE"}, headers=tokens.view)
    assert r.status_code == 404 and "NOPE" in r.json()["detail"]
    assert api.get("/v1/reports", params={"year": 2026}, headers=tokens.view
                   ).json()["items"] == []

    stats = api.get(f"/v1/reports/{lab_a['id']}/modules/4/stats", headers=tokens.view).json()
    assert stats["unit_code"] == "LAB-A" and stats["module_name"] == "equipment"
    assert stats["stats"]["scope2"] == pytest.approx(2 * KG)
    assert stats["stats"]["entry_count"] == 2
    (root,) = stats["tree"]
    assert root["path"] == "equipment" and root["kg"] == pytest.approx(2 * KG)
    assert [c["path"] for c in root["children"]] == ["equipment__it"]
    empty = api.get(f"/v1/reports/{lab_a['id']}/modules/1/stats", headers=tokens.view).json()
    assert empty["tree"] == []
    assert api.get(f"/v1/reports/{lab_a['id'] + 100}/modules/4/stats",
                   headers=tokens.view).status_code == 404
    for path in ("/v1/reports/0/modules/4/stats", "/v1/reports/1/modules/9/stats",
                 f"/v1/reports/{2**31}/modules/4/stats", "/v1/reports/x/modules/4/stats"):
        assert api.get(path, headers=tokens.view).status_code == 422, path
    for bad in ({"year": 2025, "unit": ""}, {"year": 2025, "unit": "A\x00B"},
                {"year": 2025, "unit": "x" * 65}, {"unit": "LAB-A"}):
        assert api.get("/v1/reports", params=bad, headers=tokens.view).status_code == 422


def test_ids_are_validated(api: TestClient, tokens: Tokens) -> None:
    h = tokens.view
    for path in ("/v1/sync/jobs/0", "/v1/sync/jobs/-1", f"/v1/sync/jobs/{2**31}",
                 "/v1/sync/jobs/abc", "/v1/sync/jobs/1.5", "/v1/sync/pipelines/not-a-uuid",
                 "/v1/sync/pipelines/123", "/v1/sync/pipelines/not-a-uuid/stream",
                 "/v1/sync/jobs/abc/stream"):
        assert api.get(path, headers=h).status_code == 422, path
    assert api.get("/v1/sync/jobs/12345", headers=h).json() == {"detail": "job 12345 not found"}
    pid = uuid.uuid4()
    r = api.get(f"/v1/sync/pipelines/{pid}", headers=h)
    assert r.status_code == 404 and str(pid) in r.json()["detail"]
    r = api.post("/v1/sync/pipelines/zzz/abort", headers=tokens.op)
    assert r.status_code == 422
    # Triggers: unknown module / type, type of another module, year missing or out of range.
    for path, params in (("/v1/sync/recalculate-emissions/9/11", {"year": 2025}),
                         ("/v1/sync/recalculate-emissions/4/99", {"year": 2025}),
                         ("/v1/sync/recalculate-emissions/4/20", {"year": 2025}),
                         ("/v1/sync/recalculate-emissions/4/11", {}),
                         ("/v1/sync/recalculate-emissions/4", {"year": 1850}),
                         ("/v1/sync/recalculate-emissions/4", {"year": 2025,
                                                               "only_stale": "maybe"})):
        r = api.post(path, params=params, headers=tokens.op)
        assert r.status_code == 422, (path, params, r.text)
    r = api.post("/v1/sync/recalculate-emissions/4/20", params={"year": 2025}, headers=tokens.op)
    assert "does not belong to module 4 (equipment)" in r.json()["detail"][0]["msg"]
    assert row_counts()["data_ingestion_jobs"] == 0


def test_triggers_dedup_and_nothing_stale(api: TestClient, tokens: Tokens,
                                          loaded: dict[str, Any]) -> None:
    r = api.post("/v1/sync/recalculate-emissions/4", params={"year": 2025}, headers=tokens.op)
    assert r.status_code == 400
    assert r.json() == {"detail": "No data entry types require recalculation for this module"}
    # Two clicks while the first is still waiting: the second returns the first's job.
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.emission_recalc, module_type_id=4, year=2025,
                                 created_by="other")
        held = jobs.request_recalc(s, pipeline_id=p.id, module_type_id=4,
                                   data_entry_type_id=10, year=2025, created_by="other")
    r = api.post("/v1/sync/recalculate-emissions/4/10", params={"year": 2025},
                 headers=tokens.op)
    assert r.status_code == 202
    assert r.json()["job_id"] == held.job_id and "already in progress" in r.json()["message"]
    with session_scope() as s:
        pipelines.abort_pipeline(s, p.id, "test")


def test_abort(api: TestClient, tokens: Tokens) -> None:
    """A pipeline whose job is still in the outbox (not dispatched) is aborted; a second
    abort has nothing left to do (409)."""
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.factor_ingest, module_type_id=4, year=2025,
                                 created_by="ops-alice")
        job = jobs.create_job(s, pipeline_id=p.id, job_type=JobType.factor_ingest,
                              target_type=TargetType.FACTORS,
                              ingestion_method=IngestionMethod.csv, module_type_id=4,
                              year=2025)
        pid, job_id = str(p.id), job.id
    r = api.post(f"/v1/sync/pipelines/{pid}/abort", headers=tokens.op)
    assert r.status_code == 200, r.text
    assert r.json()["aborted_job_ids"] == [job_id] and r.json()["aborted_by"] == "ops-alice"
    j = api.get(f"/v1/sync/jobs/{job_id}", headers=tokens.view).json()
    assert (j["state"], j["result"], j["status_message"]) == (
        "FINISHED", "ERROR", "Aborted by ops-alice")
    detail = api.get(f"/v1/sync/pipelines/{pid}", headers=tokens.view).json()
    assert detail["status"] == "ABORTED" and detail["progress"]["finished"]
    r = api.post(f"/v1/sync/pipelines/{pid}/abort", headers=tokens.op)
    assert r.status_code == 409 and "nothing active" in r.json()["detail"]
    r = api.post(f"/v1/sync/pipelines/{uuid.uuid4()}/abort", headers=tokens.op)
    assert r.status_code == 404


def test_workers_lists_the_test_worker(api: TestClient, tokens: Tokens) -> None:
    workers = api.get("/v1/workers", headers=tokens.view).json()
    assert len(workers) >= 1
    assert all(set(w) == {"name", "active_tasks", "tasks", "version", "pid", "queues",
                          "uptime_seconds", "answered_at"} for w in workers)
    assert all(w["active_tasks"] == len(w["tasks"]) for w in workers)


def test_request_id_and_json_logs(api: TestClient, tokens: Tokens) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("carbon.api")
    logger.addHandler(handler)
    insert_entry(2025)  # a year with something to recalculate
    try:
        r = api.post("/v1/sync/recalculate-emissions/4/11", params={"year": 2025},
                     headers={**tokens.op, "X-Request-ID": "req-42.a"})
        assert r.status_code == 202
        wait_pipeline(api, r.json()["pipeline_id"], tokens.op)
    finally:
        logger.removeHandler(handler)
    assert r.headers["x-request-id"] == "req-42.a"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [x for x in lines if x["logger"] == "carbon.api.access"
              and x["request_id"] == "req-42.a"]
    assert len(access) == 1
    assert access[0]["status"] == 202 and access[0]["job_id"] == r.json()["job_id"]
    assert access[0]["user"] == "ops-alice" and access[0]["method"] == "POST"
    # A missing or unusable request id is replaced by a fresh one.
    generated = api.get("/v1/health").headers["x-request-id"]
    assert len(generated) == 32
    odd = api.get("/v1/health", headers={"X-Request-ID": "has spaces and " + "x" * 200})
    assert odd.headers["x-request-id"] != "has spaces"
    assert len(odd.headers["x-request-id"]) == 32


def test_database_outage_is_503(api: TestClient, tokens: Tokens,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "database_url",
                        "postgresql+psycopg2://postgres@127.0.0.1:1/unreachable")
    r = api.get("/v1/sync/pipelines", headers=tokens.view)
    assert r.status_code == 503 and "database is unreachable" in r.json()["detail"]
    r = api.get("/v1/health")
    assert r.status_code == 503 and r.json()["database"] == "unavailable"
