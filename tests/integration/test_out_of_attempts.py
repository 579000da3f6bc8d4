"""A job whose every attempt failed is closed as ERROR by the delivery that finds it so.

`carbon demo` (SQLite, no reconciler) hung at "uploading 48 files": an aggregation failed
with "database is locked" on each of its 3 attempts, the task's transient-error retry (up
to 6) was delivered once more, its claim found the attempts used up and the task returned
"skipped", leaving the job RUNNING with nothing left to run it: its pipeline waited for
good. A deployment's reconciler closed such a job only once its heartbeat was stale."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from carbon_domain import task_names as tn
from carbon_domain.db.enums import IngestionMethod, JobState, JobType, TargetType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs, pipelines
from carbon_tasks import app
from tests.console.support import EQUIPMENT, YEAR

from .helpers import jobs_of, wait_pipeline

pytestmark = pytest.mark.integration


def _held_job(task_id: str, attempts_left: int) -> tuple[str, int]:
    """An aggregation held by ``task_id`` (RUNNING, as its failed attempts left it)."""
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.aggregation, module_type_id=EQUIPMENT,
                                      year=YEAR, created_by="test")
        job = jobs.create_job(s, pipeline_id=p.id, job_type=JobType.aggregation,
                              target_type=TargetType.STATISTICS,
                              ingestion_method=IngestionMethod.computed,
                              module_type_id=EQUIPMENT, year=YEAR, created_by="test")
        s.flush()
        s.execute(update(Job).where(Job.id == job.id).values(
            state=JobState.RUNNING, is_current=True, celery_task_id=task_id,
            attempts=Job.max_attempts - attempts_left, status_message="Running"))
        return str(p.id), int(job.id)


def test_a_delivery_finding_no_attempt_left_closes_the_job(db: str, worker: Any) -> None:
    pid, job_id = _held_job("agg-out-of-attempts", attempts_left=0)
    out = app.send_task(tn.AGGREGATE_MODULE, kwargs={"job_id": job_id},
                        task_id="agg-out-of-attempts").get(timeout=30)
    (job,) = jobs_of(pid)
    assert (job.state, job.result) == ("FINISHED", "ERROR"), job.status_message
    assert job.status_message.startswith("ERROR: failed on each of its 3 attempts")
    assert wait_pipeline(pid, timeout=10).status == "FAILED"
    assert out["skipped"] and out.get("out_of_attempts"), out


def test_a_delivery_of_another_task_leaves_a_held_job_alone(db: str, worker: Any) -> None:
    """Only the message that holds the job may close it: another task's delivery (a stray
    duplicate) finds it held and changes nothing."""
    pid, job_id = _held_job("agg-holder", attempts_left=0)
    out = app.send_task(tn.AGGREGATE_MODULE, kwargs={"job_id": job_id},
                        task_id="agg-stray").get(timeout=30)
    assert out["skipped"] and not out.get("out_of_attempts"), out
    (job,) = jobs_of(pid)
    assert (job.state, job.celery_task_id) == ("RUNNING", "agg-holder")
