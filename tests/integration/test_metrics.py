"""``GET /metrics`` (Prometheus text) moves when a pipeline runs on the real worker, and only
answers a token holder."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from carbon_tasks import operations as ops
from tests.integration.helpers import UNITS_CSV, wait_pipeline
from tests.integration.test_pipeline_guarantees import EQUIP_FACTORS, equip_entries, upload

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
