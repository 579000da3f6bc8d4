"""Log lines: a worker started with CARBON_LOG_FORMAT=json writes one JSON object per event,
the task lines naming their task, job and pipeline; the API's handler never doubles a line
that a worker in the same process already prints."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from tests.fault import harness
from tests.fault.conftest import _no_in_process_worker, _purge_broker  # noqa: F401

pytestmark = pytest.mark.integration


def test_worker_writes_one_json_line_per_event(db: str, tmp_path: Path) -> None:
    _purge_broker()
    w = harness.Worker("jsonlog", harness.child_env(CARBON_LOG_FORMAT="json"), tmp_path,
                       concurrency=2).start()
    try:
        w.wait_ready(60)
        harness.upload_equipment(400)
        pipeline_id = harness.trigger()
        p = harness.wait_for(lambda: harness.chunks_done(pipeline_id) == 6, 60,
                             "the recalculation's chunks", on_fail=w.tail)
        assert p
    finally:
        w.kill()
        _purge_broker()
    lines = [x for x in w.log().splitlines() if x.startswith("{")]
    events = [json.loads(x) for x in lines]
    assert len(events) > 20
    assert all({"ts", "level", "logger", "msg"} <= e.keys() for e in events)
    # One line per event: no record written twice (same time, logger and message).
    twice = [k for k, n in Counter((e["ts"], e["logger"], e["msg"]) for e in events).items()
             if n > 1]
    assert twice == []
    chunk_done = [e for e in events if e["msg"].startswith("Task carbon.recalculate_chunk[")
                  and " succeeded in " in e["msg"]]
    job_ids = {harness.recalc_job_id(pipeline_id, det) for det, *_ in harness.TYPES}
    # Each chunk's lines carry its own task id and its job's id; this pipeline's three
    # recalculation jobs are all there (the uploads' recalculations too, with theirs).
    assert chunk_done and all(e["task_id"] in e["msg"] for e in chunk_done)
    assert job_ids <= {e["job_id"] for e in chunk_done}
    plans = [e for e in events if e.get("task") == "carbon.plan_recalculation"]
    assert plans and all(e.get("pipeline_id") for e in plans)
    assert pipeline_id in {e["pipeline_id"] for e in plans}


def test_api_lines_are_not_doubled_by_a_worker_in_the_same_process() -> None:
    from carbon_api.logging import configure_logging

    root, carbon = logging.getLogger(), logging.getLogger("carbon")
    saved_root, saved_carbon = list(root.handlers), list(carbon.handlers)
    out = io.StringIO()
    printing = logging.StreamHandler(out)  # what a Celery worker installs on the root logger
    try:
        # Start from a process where nothing prints yet: earlier tests' in-process workers
        # leave their handlers on the root logger (restored below).
        for h in list(carbon.handlers):
            carbon.removeHandler(h)
        for h in saved_root:
            root.removeHandler(h)
        configure_logging("INFO", "json")
        assert len(carbon.handlers) == 1  # alone, the API prints its own lines
        root.addHandler(printing)
        configure_logging("INFO", "json")
        assert carbon.handlers == []
        logging.getLogger("carbon.api").info("once", extra={"job_id": 7})
        (line,) = out.getvalue().splitlines()
        assert json.loads(line)["job_id"] == 7 and json.loads(line)["msg"] == "once"
    finally:
        root.removeHandler(printing)
        for h in saved_root:
            root.addHandler(h)
        for h in list(carbon.handlers):
            carbon.removeHandler(h)
        for h in saved_carbon:
            carbon.addHandler(h)
        assert root.handlers == saved_root
