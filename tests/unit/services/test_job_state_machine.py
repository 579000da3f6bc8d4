"""The job state machine, staleness and the reconciler's decisions, on SQLite (fast, no
broker). The concurrent behaviour (claim races, locks) is covered on PostgreSQL in
tests/integration and tests/fault."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.catalog import ModuleType as M
from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import (
    IngestionMethod,
    JobResult,
    JobState,
    JobType,
    PipelineStatus,
    TargetType,
)
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.services.recalc import aggregate
from carbon_domain.services.upkeep import reconcile
from carbon_domain.settings import get_settings

YEAR = 2025


def _recalc(s: Session, input_job_id: int | None = None, det: D = D.plane) -> jobs.Request:
    return jobs.request_recalc(s, pipeline_id=None, module_type_id=M.professional_travel,
                               data_entry_type_id=det, year=YEAR, created_by="t",
                               input_job_id=input_job_id)


def _upload(s: Session) -> Job:
    return jobs.create_job(s, pipeline_id=None, job_type=JobType.csv_ingest,
                           target_type=TargetType.DATA_ENTRIES,
                           ingestion_method=IngestionMethod.csv,
                           module_type_id=M.professional_travel, year=YEAR, created_by="t")


def test_states_are_enums_stored_as_their_names(session: Session) -> None:
    job = _upload(session)
    session.commit()
    session.expire_all()
    job = session.get(Job, job.id)
    assert job is not None and job.state is JobState.NOT_STARTED
    assert job.job_type is JobType.csv_ingest
    raw = session.connection().exec_driver_sql(
        "SELECT state, job_type FROM data_ingestion_jobs").one()
    assert tuple(raw) == ("NOT_STARTED", "csv_ingest")


def test_claim_is_once_per_attempt_and_a_redelivery_retakes_its_own_job(
        session: Session) -> None:
    job = _upload(session)
    assert jobs.claim(session, job.id, "task-a") == 1
    assert jobs.claim(session, job.id, "task-b") is None  # another live task holds it
    assert jobs.claim(session, job.id, "task-a") == 2  # same message, redelivered


def test_finish_is_fenced_by_the_attempt(session: Session) -> None:
    job = _upload(session)
    first = jobs.claim(session, job.id, "task-a")
    second = jobs.claim(session, job.id, "task-a")
    assert first is not None and second is not None
    assert not jobs.fence(session, job.id, first)
    assert not jobs.finish(session, job.id, first, JobResult.SUCCESS, "stale")
    assert jobs.finish(session, job.id, second, JobResult.WARNING, "Success: 3 rows")
    session.refresh(job)
    assert (job.state, job.result) == (JobState.FINISHED, JobResult.WARNING)
    assert job.status_message == "WARNING: Success: 3 rows"  # never says "Success" alone
    assert not jobs.finish(session, job.id, second, JobResult.SUCCESS, "twice")


def test_a_duplicate_request_returns_the_active_job(session: Session) -> None:
    first = _recalc(session)
    again = _recalc(session)
    assert first.created and not again.created and again.job_id == first.job_id


def test_an_input_covered_by_a_waiting_recalculation_is_recorded(session: Session) -> None:
    first = _recalc(session)
    upload = _upload(session)
    _recalc(session, input_job_id=upload.id)
    job = session.get(Job, first.job_id)
    assert job is not None and job.covers_input_job_id == upload.id
    assert not job.dirty


def test_an_input_landing_on_a_running_recalculation_makes_it_run_again(
        session: Session) -> None:
    first = _recalc(session)
    jobs.claim(session, first.job_id, "plan")
    _recalc(session)  # an operator's duplicate trigger: no new input, no rerun
    job = session.get(Job, first.job_id)
    assert job is not None and not job.dirty
    upload = _upload(session)
    _recalc(session, input_job_id=upload.id)
    session.refresh(job)
    assert job.dirty


def test_pipeline_status_follows_its_jobs(session: Session) -> None:
    p = pipelines.create_pipeline(session, kind=JobType.emission_recalc,
                                  module_type_id=M.professional_travel, year=YEAR,
                                  created_by="t")
    req = jobs.request_recalc(session, pipeline_id=p.id, module_type_id=M.professional_travel,
                              data_entry_type_id=D.plane, year=YEAR, created_by="t")
    assert pipelines.recompute_pipeline_status(session, p.id) == PipelineStatus.RUNNING
    attempt = jobs.claim(session, req.job_id, "t")
    jobs.finish(session, req.job_id, attempt, JobResult.ERROR, "ERROR: boom")
    assert pipelines.recompute_pipeline_status(session, p.id) == PipelineStatus.FAILED


def _age(session: Session, job_id: int, **fields: Any) -> None:
    job = session.get(Job, job_id)
    assert job is not None
    for k, v in fields.items():
        setattr(job, k, v)
    session.flush()


@pytest.mark.parametrize("attempts_left", [True, False])
def test_reconciler_retries_a_silent_job_then_gives_up(session: Session,
                                                      attempts_left: bool) -> None:
    job = _upload(session)
    jobs.claim(session, job.id, "t")
    long_ago = utcnow() - timedelta(hours=2)
    _age(session, job.id, heartbeat_at=long_ago, started_at=long_ago,
         max_attempts=3 if attempts_left else 1)
    summary, to_dispatch = reconcile.reconcile(session)
    session.flush()
    session.refresh(job)
    if attempts_left:
        assert (summary.retried, to_dispatch) == (1, [job.id])
        assert job.state == JobState.NOT_STARTED
    else:
        assert (summary.gave_up, to_dispatch) == (1, [])
        assert (job.state, job.result) == (JobState.FINISHED, JobResult.ERROR)


def test_reconciler_redispatches_the_outbox_and_lost_messages(session: Session) -> None:
    long_ago = utcnow() - timedelta(hours=2)
    waiting, queued, fresh = _upload(session), _recalc(session), _recalc(session, det=D.train)
    _age(session, waiting.id, created_at=long_ago)
    # Younger than the dispatch grace period (whatever CARBON_DISPATCH_GRACE_SECONDS is).
    grace = get_settings().dispatch_grace_seconds
    _age(session, fresh.job_id, created_at=utcnow() - timedelta(seconds=grace - 60))
    _age(session, queued.job_id, state=JobState.QUEUED, dispatched_at=long_ago,
         created_at=long_ago)
    summary, to_dispatch = reconcile.reconcile(session)
    assert (summary.outbox, summary.lost) == (1, 1)
    assert to_dispatch == sorted([waiting.id, queued.job_id])
    assert fresh.job_id not in to_dispatch  # within the dispatch grace period


def _run(s: Session, job_id: int, meta: Any = None) -> None:
    attempt = jobs.claim(s, job_id, f"task-{job_id}")
    assert attempt is not None
    if meta is not None:
        meta = meta()  # read once claimed, as the aggregation's run does
    assert jobs.finish(s, job_id, attempt, JobResult.SUCCESS, "ok", meta)


def _aggregate(s: Session, job_id: int, *, record: bool) -> None:
    """Finish an aggregation as its run does: with what it read (``record``), or as one
    finished before that record existed."""
    def read() -> Any:
        return {"aggregation": {"runs": 1, "read": aggregate.recalculations_read(
            s, M.professional_travel, YEAR)}} if record else {"aggregation": {"runs": 1}}
    _run(s, job_id, read)


def _aggregation(s: Session) -> int:
    return jobs.request_aggregation(s, pipeline_id=None, module_type_id=M.professional_travel,
                                    year=YEAR, created_by="t").job_id


@pytest.mark.parametrize("record", [True, False])
def test_a_recalculation_read_by_an_earlier_aggregation_is_not_backfilled(
        session: Session, record: bool) -> None:
    """A recalculation that finishes while an earlier aggregation is still queued joins it;
    the aggregation then reads its rows: nothing is due, though the aggregation has the
    lower id. (An aggregation finished before it recorded what it read is judged by ids.)"""
    _run(session, _recalc(session).job_id)
    queued = _aggregation(session)
    later = _recalc(session, det=D.train).job_id
    _run(session, later)
    assert _aggregation(session) == queued  # joined, not a second one
    _aggregate(session, queued, record=record)
    key = (M.professional_travel, YEAR)
    assert reconcile.due_aggregations(session) == (set() if record else {key})


@pytest.mark.parametrize("result", [JobResult.SUCCESS, JobResult.ERROR])
def test_a_recalculation_still_running_when_the_aggregation_read_is_due(
        session: Session, result: JobResult) -> None:
    """The aggregation read a later recalculation (train) but not an earlier one still
    running (plane): once plane finishes good, the (module, year) is due again, whatever
    the ids; finished ERROR, it is not (it wrote no rows)."""
    running = _recalc(session).job_id
    attempt = jobs.claim(session, running, "plane")
    later = _recalc(session, det=D.train).job_id
    _run(session, later)
    agg = _aggregation(session)
    _aggregate(session, agg, record=True)
    job = session.get(Job, agg)
    assert job is not None
    assert job.meta["aggregation"]["read"] == {"upto": later, "pending": [running]}
    assert reconcile.due_aggregations(session) == set()  # plane is still active
    assert attempt is not None
    jobs.finish(session, running, attempt, result, "done")
    if result == JobResult.ERROR:
        assert reconcile.due_aggregations(session) == set()
        return
    assert reconcile.due_aggregations(session) == {(M.professional_travel, YEAR)}
    # Its backfill reads it: settled.
    backfill = _aggregation(session)
    assert backfill != agg
    _aggregate(session, backfill, record=True)
    assert reconcile.due_aggregations(session) == set()
