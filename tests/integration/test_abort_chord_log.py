"""An operator's abort is not an error in the worker's log; a chunk that really fails is.

A recalculation of 600 IT entries (12 chunks of 50) is held on its (module, year) lock, so
its chunks wait queued and in the worker's 3 slots; the abort lands, the lock is released,
and the chord runs out on the suite's real worker (Redis result backend). Then a second
recalculation whose chunk raises.

Before: the abort revoked the queued chunks. Celery marks a revoked chord member REVOKED, a
state its Redis backend propagates: the chord's last part raised ``ChordError('Dependency …
raised TaskRevokedError')`` in ``on_chord_part_return``, logged at ERROR (``Chord %r raised:
%r``, with its traceback) and sent the chord's errback, which logged ERROR again
("recalculation chord failed"): two ERROR records for every ordinary abort.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery.result import AsyncResult
from sqlalchemy import func, select
from typer.testing import CliRunner

from carbon_api.cli import app as cli
from carbon_domain.db.history_models import FactorHistory
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Factor, RecalcChunk
from carbon_domain.db.session import session_scope
from carbon_domain.services.recalc import recalc_chunk
from carbon_tasks import operations as ops
from carbon_tasks.app import app

from .api_support import wait_idle
from .helpers import UNITS_CSV, jobs_of, wait_pipeline
from .test_pipeline_guarantees import EQUIP_FACTORS, _hold_module_lock, equip_entries, upload

pytestmark = pytest.mark.integration
YEAR, EQUIPMENT, IT = 2025, 4, 11
CHUNKS = 12  # 600 entries, CARBON_CHUNK_SIZE=50 in the suite
FACILITY_DETS = (70, 71)


@pytest.fixture
def it_year(db: str, worker: Any) -> int:
    upload("units", UNITS_CSV, year=YEAR)
    upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=EQUIPMENT, year=YEAR)
    upload("data-entries", equip_entries(CHUNKS * 50, "it", "Laptop", "Standard"),
           module=EQUIPMENT, det=IT, year=YEAR)
    return YEAR


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO)
    yield caplog


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def _recalc_job(pipeline_id: str) -> Job:
    (job,) = [j for j in jobs_of(pipeline_id) if j.job_type == "emission_recalc"
              and j.data_entry_type_id == IT]
    return job


def _wait(predicate: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _planned(pipeline_id: str) -> list[str]:
    """The chunk task ids, once the plan committed them (all in one transaction)."""
    with session_scope() as s:
        return [t for t in s.scalars(select(RecalcChunk.task_id).join(
            Job, Job.id == RecalcChunk.job_id).where(
            Job.pipeline_id == uuid.UUID(pipeline_id))) if t]


@contextmanager
def _planned_while_held() -> Iterator[tuple[str, list[str]]]:
    """An IT recalculation planned while another session holds equipment's module lock: its
    chunks are queued and none can run until the block ends. Yields (pipeline, chunk ids)."""
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_module_lock, args=(EQUIPMENT, release, held))
    holder.start()
    assert held.wait(10)
    try:
        acc = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR,
                                        created_by="ops-alice")
        pid = str(acc.pipeline_id)
        _wait(lambda: _planned(pid), "the plan")
        yield pid, _planned(pid)
    finally:
        release.set()
        holder.join()


def _chord_over(pipeline_id: str, chunk_ids: list[str]) -> None:
    """Every chunk reported to the result backend, and so did the chord's body: the plan
    task's id is the body's (``Task.replace`` freezes the canvas with it), and the body is
    stored as run, revoked or failed by the chord's error. Then the errback's own log."""
    body = _recalc_job(pipeline_id).celery_task_id
    assert body
    _wait(lambda: all(AsyncResult(t, app=app).ready() for t in chunk_ids), "the chunks")
    _wait(lambda: AsyncResult(body, app=app).ready(), "the chord's body")
    time.sleep(1.0)
    wait_idle()


def test_an_abort_logs_no_error_and_a_failing_chunk_does(
        it_year: int, logged: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with _planned_while_held() as (pid, chunk_ids):
        assert len(chunk_ids) == CHUNKS
        logged.clear()
        out = ops.abort_pipeline(pid, "ops-alice")
        assert out["aborted_job_ids"]
    _chord_over(pid, chunk_ids)
    assert wait_pipeline(pid).status == "ABORTED"
    job = _recalc_job(pid)
    assert (job.state, job.result, job.status_message) == (
        "FINISHED", "ERROR", "Aborted by ops-alice")
    with session_scope() as s:  # the abort wrote nothing: no chunk ran
        assert s.scalar(select(func.count()).select_from(RecalcChunk).where(
            RecalcChunk.job_id == job.id, RecalcChunk.done.is_(True))) == 0
    assert _errors(logged) == []

    # A chunk that fails for good is still an ERROR, from Celery's chord and from its errback.
    real = recalc_chunk.recalculate_chunk

    def failing(session: Any, job_id: int, attempt: int, chunk_no: int) -> Any:
        if chunk_no == 3:
            raise RuntimeError("disk on fire")
        return real(session, job_id, attempt, chunk_no)

    monkeypatch.setattr(recalc_chunk, "recalculate_chunk", failing)
    logged.clear()
    acc = ops.trigger_recalculation(module=EQUIPMENT, det=IT, year=YEAR, created_by="ops-alice")
    pid = str(acc.pipeline_id)
    _wait(lambda: _planned(pid), "the plan")
    _chord_over(pid, _planned(pid))
    assert wait_pipeline(pid).status == "FAILED"
    errors = _errors(logged)
    assert any("Chord" in e and "disk on fire" in e for e in errors), errors
    assert any("recalculation chord failed" in e for e in errors), errors


def test_an_abort_before_the_facility_stage_refreshes_no_facility_factor(
        db: str, worker: Any, tmp_path: Path, logged: pytest.LogCaptureFixture) -> None:
    """A recalculation of ``it`` takes the facility types along in a second stage: chord(it
    chunks) → refresh facility factors → chord(facility chunks). Aborted during the first
    chord, whose chunks now run out as no-ops, the chain reaches the refresh: it must do
    nothing for aborted jobs (no factor written, no "inputs read" noted on them)."""
    seeded = CliRunner().invoke(cli, ["seed", "--units", "3", "--entries", "1500", "--year",
                                      str(YEAR), "--out", str(tmp_path / "seed"), "--seed", "3"])
    assert seeded.exit_code == 0, seeded.output
    with _planned_while_held() as (pid, chunk_ids):
        before = _facility_state(pid)
        assert before[0], "no facility type in the pipeline"
        logged.clear()
        ops.abort_pipeline(pid, "ops-alice")
    _chord_over(pid, chunk_ids)
    assert wait_pipeline(pid).status == "ABORTED"
    after = _facility_state(pid)
    assert after[1:] == before[1:]
    assert [c for c in after[0] if "inputs_read" in c] == [
        c for c in before[0] if "inputs_read" in c]
    assert _errors(logged) == []


def _facility_state(pipeline_id: str) -> tuple[Any, ...]:
    """The pipeline's facility jobs' configs, the live facility factors and their history."""
    with session_scope() as s:
        configs = [dict((j.meta or {}).get("config") or {}) for j in s.scalars(
            select(Job).where(Job.pipeline_id == uuid.UUID(pipeline_id),
                              Job.data_entry_type_id.in_(FACILITY_DETS)).order_by(Job.id))]
        factors = sorted((f.id, json.dumps(f.values, sort_keys=True)) for f in s.scalars(
            select(Factor).where(Factor.data_entry_type_id.in_(FACILITY_DETS))))
        history = s.scalar(select(func.count()).select_from(FactorHistory))
    return configs, factors, history
