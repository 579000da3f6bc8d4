"""The database's pipeline change notices (migration 0015, carbon_domain/db/pipeline_changes.py):
a listener hears a pipeline's and a job's changes from other transactions, not a heartbeat
alone, and comes back after its connection is killed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from carbon_domain.db import pipeline_changes
from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs, pipelines

pytestmark = pytest.mark.integration


class Listener:
    def __init__(self) -> None:
        self.count = 0
        self.lives: list[bool] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=pipeline_changes.watch, args=(self._changed, self.lives.append, self.stop),
            daemon=True)

    def _changed(self, n: int) -> None:
        self.count += n

    def wait(self, what: str, check: object, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():  # type: ignore[operator]
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def listener(db: str) -> Iterator[Listener]:
    li = Listener()
    li.thread.start()
    li.wait("the listener to go live", lambda: li.lives[-1:] == [True])
    yield li
    li.stop.set()
    li.thread.join(timeout=5)


def _pipeline_and_job() -> tuple[uuid.UUID, int]:
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.emission_recalc, module_type_id=4,
                                      year=2025, created_by="test")
        job = jobs.request_recalc(s, pipeline_id=p.id, module_type_id=4, data_entry_type_id=11,
                                  year=2025, created_by="test")
        return p.id, job.job_id


def _ids_within(listener: pipeline_changes.Listener, seconds: float) -> list[str]:
    deadline, ids = time.monotonic() + seconds, []
    while (left := deadline - time.monotonic()) > 0:
        ids += listener.wait(left)
    return ids


def test_pipeline_and_job_changes_are_heard_a_heartbeat_is_not(db: str) -> None:
    """Counted by pipeline id, so another pipeline moving meanwhile cannot make it fail."""
    with pipeline_changes.Listener() as li:
        pipeline_id, job_id = _pipeline_and_job()
        mine = str(pipeline_id)
        assert mine in _ids_within(li, 2.0), "the new pipeline and job sent no notice"
        with session_scope() as s:
            s.execute(text("UPDATE data_ingestion_jobs SET heartbeat_at = now() WHERE id = :j"),
                      {"j": job_id})
        assert mine not in _ids_within(li, 0.5), "a heartbeat alone sent a notice"
        with session_scope() as s:
            s.execute(text("UPDATE data_ingestion_jobs SET progress_done = progress_done + 1"
                           " WHERE id = :j"), {"j": job_id})
        assert mine in _ids_within(li, 2.0), "the job's progress sent no notice"


def test_listening_start_wakes_the_readers_once(listener: Listener) -> None:
    """A change committed before LISTEN (or while reconnecting) sent a notice nobody
    heard: each start of listening counts as one change, so the readers read again."""
    listener.wait("the start's wake-up", lambda: listener.count >= 1)


def test_the_listener_comes_back_after_its_connection_is_killed(listener: Listener) -> None:
    with session_scope() as s:
        killed = s.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname ="
            " current_database() AND query LIKE 'LISTEN %'")).scalar()
    assert killed >= 1  # ours (and an API listener of this test process, if one runs)
    listener.wait("the loss to be seen", lambda: False in listener.lives)
    listener.wait("the listener to be back", lambda: listener.lives[-1:] == [True],
                  timeout=15)
    time.sleep(0.3)  # past the restart's own wake-up
    before = listener.count
    _pipeline_and_job()
    listener.wait("a notice after the reconnection", lambda: listener.count > before)


def test_cli_follow_sees_the_end_on_the_notice_not_the_interval(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`carbon … --wait` (cli/follow.py) reads the pipeline as soon as a notice arrives: with
    a 30 s interval it still returns within seconds of the pipeline's end."""
    from carbon_api.cli import follow as follow_mod

    monkeypatch.setattr(follow_mod, "POLL_INTERVAL_S", 30.0)
    pipeline_id, _ = _pipeline_and_job()
    with session_scope() as s:
        s.execute(text("UPDATE pipelines SET status = 'RUNNING' WHERE id = :p"),
                  {"p": pipeline_id})
    ended: dict[str, float] = {}

    def end_it() -> None:
        time.sleep(1.0)  # follow has read RUNNING and waits
        with session_scope() as s:
            s.execute(text("UPDATE pipelines SET status = 'SUCCESS', finished_at = now()"
                           " WHERE id = :p"), {"p": pipeline_id})
        ended["at"] = time.monotonic()

    ender = threading.Thread(target=end_it)
    ender.start()
    try:
        status = follow_mod.follow(str(pipeline_id), timeout=60, quiet=True)
    finally:
        ender.join()
    after = time.monotonic() - ended["at"]
    assert status == "SUCCESS"
    assert after < 5, f"follow returned {after:.1f} s after the pipeline ended"
