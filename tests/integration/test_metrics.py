"""``GET /metrics`` (Prometheus text) moves when a pipeline runs on the real worker, and only
answers a token holder; its pipeline counts are the display statuses every other surface
shows (a pipeline no worker has started is QUEUED, not RUNNING); with the database down it
still answers, with the broker's figures and ``carbon_database_up`` 0."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from carbon_domain.settings import get_settings
from carbon_tasks import operations as ops
from tests.console.support import EntryLock, last_entry_id
from tests.integration.helpers import UNITS_CSV, no_worker, wait_pipeline
from tests.integration.test_pipeline_guarantees import EQUIP_FACTORS, equip_entries, upload
from tests.integration.test_staleness_landed_inputs import IT_FACTORS_AT

from .api_support import Tokens

pytestmark = pytest.mark.integration
YEAR, EQUIPMENT, IT = 2025, 4, 11


def scrape(api: TestClient, tokens: Tokens) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = api.get("/metrics", headers=tokens.view)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m: dict[Any, float], name: str, **labels: str) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def succeeded(m: dict[Any, float]) -> float:
    return sum(v for (name, labels), v in m.items()
               if name == "carbon_pipelines" and ("status", "SUCCESS") in labels)


def test_metrics_need_a_token(api: TestClient) -> None:
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


UNREACHABLE = "postgresql+psycopg2://postgres@127.0.0.1:1/unreachable"
# Every family read from the database.
FROM_THE_DATABASE = ("carbon_pipelines", "carbon_pipeline_oldest_running_seconds",
                     "carbon_job_duration_seconds", "carbon_chunks_done",
                     "carbon_chunk_entries", "carbon_emission_rows_written",
                     "carbon_types_needing_recalculation", "carbon_oldest_stale_seconds")


def test_metrics_answer_while_the_database_is_down(api: TestClient, tokens: Tokens,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The database unreachable (the app pointed at a closed port): /metrics answered 503,
    so Prometheus dropped every series of the scrape, the broker's too, and only "cannot
    scrape the API" could alert. It answers 200 with the broker's figures and
    carbon_database_up 0 (docker/prometheus/alerts.yml: CarbonDatabaseUnreachable)."""
    up = scrape(api, tokens)  # Prometheus's token, verified while the database answers
    assert up[("carbon_database_up", ())] == 1.0
    assert ("carbon_pipeline_oldest_running_seconds", ()) in up
    monkeypatch.setattr(get_settings(), "database_url", UNREACHABLE)
    down = scrape(api, tokens)
    assert down[("carbon_database_up", ())] == 0.0
    assert down[("carbon_broker_up", ())] == 1.0 and down[("carbon_workers", ())] >= 1
    assert down[("carbon_queue_consumers", (("queue", "recalc"),))] >= 1
    assert ("carbon_queue_messages", (("queue", "recalc"),)) in down
    assert [n for n, _ in down if n.startswith(FROM_THE_DATABASE)] == []
    # A token this process has not verified cannot be checked: the API's 503, as before
    # (the database holds the tokens); a missing or malformed one is still 401.
    r = api.get("/metrics", headers=tokens.op)
    assert r.status_code == 503 and r.json() == {
        "detail": "The database is unreachable or busy; try again in a moment."}
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    monkeypatch.undo()
    back = scrape(api, tokens)
    assert back[("carbon_database_up", ())] == 1.0
    assert ("carbon_pipeline_oldest_running_seconds", ()) in back


def test_metrics_move_when_a_pipeline_runs(api: TestClient, tokens: Tokens) -> None:
    before = scrape(api, tokens)
    assert value(before, "carbon_broker_up") == 1.0
    assert value(before, "carbon_workers") >= 1
    assert value(before, "carbon_queue_consumers", queue="recalc") >= 1
    assert ("carbon_queue_messages", (("queue", "recalc"),)) in before

    upload("units", UNITS_CSV, year=YEAR)
    upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=EQUIPMENT, year=YEAR)
    upload("data-entries", equip_entries(200, "it", "Laptop", "Standard"), module=EQUIPMENT,
           det=IT, year=YEAR)
    # A revised IT factor, not recalculated: IT is stale (the other types have factors and
    # no entry: nothing to recalculate, not stale).
    upload("factors", IT_FACTORS_AT.format(ef="0.2"), module=EQUIPMENT, det=IT, year=YEAR)
    stale = scrape(api, tokens)
    assert value(stale, "carbon_types_needing_recalculation", year=str(YEAR)) >= 1
    assert value(stale, "carbon_oldest_stale_seconds", year=str(YEAR)) > 0

    acc = ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, only_stale=True,
                                           created_by="test")
    assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    after = scrape(api, tokens)
    # The test session's chunk size is 50: 200 entries are at least 4 chunks, 1 row each.
    assert value(after, "carbon_chunks_done_total") >= value(
        before, "carbon_chunks_done_total") + 4
    assert value(after, "carbon_emission_rows_written_total") >= 200
    assert value(after, "carbon_chunk_entries_total") >= 200
    # units, factors, data entries, the recalculation
    assert succeeded(after) >= succeeded(before) + 4
    recalc = dict(job_type="emission_recalc", data_entry_type="it")
    assert value(after, "carbon_job_duration_seconds_count", **recalc) >= 1
    assert value(after, "carbon_job_duration_seconds_bucket", le="+Inf", **recalc) == value(
        after, "carbon_job_duration_seconds_count", **recalc)
    assert value(after, "carbon_job_duration_seconds_sum", **recalc) > 0
    assert value(after, "carbon_types_needing_recalculation", year=str(YEAR)) == 0
    assert value(after, "carbon_oldest_stale_seconds", year=str(YEAR)) == 0
    assert value(after, "carbon_pipeline_oldest_running_seconds") == 0


def shown_by_api(api: TestClient, tokens: Tokens, pipeline_id: str) -> str:
    r = api.get(f"/v1/sync/pipelines/{pipeline_id}", headers=tokens.view)
    assert r.status_code == 200, r.text
    return str(r.json()["display_status"])


def pipelines_by_kind(m: dict[Any, float], kind: str) -> dict[str, int]:
    """The ``carbon_pipelines`` series of one kind that are not zero."""
    return {dict(labels)["status"]: int(v) for (name, labels), v in m.items()
            if name == "carbon_pipelines" and dict(labels)["kind"] == kind and v}


def counted_by_api(api: TestClient, tokens: Tokens, kind: str) -> dict[str, int]:
    r = api.get("/v1/sync/pipelines", params={"kind": kind}, headers=tokens.view)
    assert r.status_code == 200, r.text
    return dict(r.json()["counts_by_display_status"])


def test_a_pipeline_no_worker_started_counts_as_queued_then_running_then_success(
        api: TestClient, tokens: Tokens) -> None:
    """Before: while the console, the API and the CLI said "⧗ Queued — waiting for a worker",
    ``carbon_pipelines`` counted the pipeline as RUNNING (the stored status). No worker is
    real (the suite's worker stops consuming); a row lock holds the run once it starts."""
    upload("units", UNITS_CSV, year=YEAR)
    upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=EQUIPMENT, year=YEAR)
    upload("data-entries", equip_entries(200, "it", "Laptop", "Standard"), module=EQUIPMENT,
           det=IT, year=YEAR)
    lock = EntryLock(last_entry_id(IT))
    with no_worker():
        # The uploaded type, all of it: its chunk holding the locked entry waits.
        acc = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="test")
        pid = str(acc.pipeline_id)
        time.sleep(0.5)  # long enough for a worker to have taken it, had one been there
        assert shown_by_api(api, tokens, pid) == "QUEUED"
        kind = api.get(f"/v1/sync/pipelines/{pid}", headers=tokens.view).json()["kind"]
        queued = scrape(api, tokens)
        assert value(queued, "carbon_pipelines", kind=kind, status="QUEUED") == 1
        assert value(queued, "carbon_pipelines", kind=kind, status="RUNNING") == 0
        # Every kind counted as the API counts it (the three uploads: SUCCESS), and every
        # display status a series of each kind, zeros included.
        kinds = {dict(labels)["kind"] for (name, labels) in queued if name == "carbon_pipelines"}
        assert len(kinds) == 4 and kind in kinds
        for k in kinds:
            assert pipelines_by_kind(queued, k) == counted_by_api(api, tokens, k), k
            assert ("carbon_pipelines", (("kind", k), ("status", "QUEUED"))) in queued
        lock.__enter__()  # the run will be held once a worker starts it
    try:
        deadline = time.monotonic() + 30
        while (now := shown_by_api(api, tokens, pid)) != "RUNNING":
            assert time.monotonic() < deadline, f"the pipeline is {now}, not RUNNING"
            time.sleep(0.1)
        running = scrape(api, tokens)
        assert value(running, "carbon_pipelines", kind=kind, status="RUNNING") == 1
        assert value(running, "carbon_pipelines", kind=kind, status="QUEUED") == 0
        assert pipelines_by_kind(running, kind) == counted_by_api(api, tokens, kind)
    finally:
        lock.release()
    assert wait_pipeline(pid).status == "SUCCESS"
    done = scrape(api, tokens)
    assert pipelines_by_kind(done, kind) == {"SUCCESS": 1} == counted_by_api(api, tokens, kind)
