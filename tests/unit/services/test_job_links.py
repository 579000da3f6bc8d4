"""Joins, awaited aggregations and a module job's per-type jobs are link rows (migration
0009), not meta lists: the pipeline services read and write them, on SQLite."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.catalog import ModuleType as M
from carbon_domain.db.enums import (
    IngestionMethod,
    JobResult,
    JobState,
    JobType,
    PipelineStatus,
    TargetType,
)
from carbon_domain.db.link_models import AwaitedAggregation, PipelineJobLink
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.services.jobs import job_links, jobs, pipelines
from carbon_domain.services.jobs.job_meta import updated
from carbon_domain.services.reads.queries import get_job

YEAR = 2025
MOD = M.professional_travel


def _pipeline(s: Session) -> uuid.UUID:
    return pipelines.create_pipeline(s, kind="t", module_type_id=MOD, year=YEAR,
                                     created_by="t").id


def _recalc(s: Session, pid: uuid.UUID, det: D = D.plane) -> jobs.Request:
    return jobs.request_recalc(s, pipeline_id=pid, module_type_id=MOD, data_entry_type_id=det,
                               year=YEAR, created_by="t")


def _count(s: Session, model: type) -> int:
    return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_a_dedup_hit_links_the_second_pipeline_once(session: Session) -> None:
    p1, p2 = _pipeline(session), _pipeline(session)
    first = _recalc(session, p1)
    again = _recalc(session, p2)
    _recalc(session, p2)
    assert not again.created and again.job_id == first.job_id
    assert _count(session, PipelineJobLink) == 1
    assert pipelines.linking_pipelines(session, {first.job_id}) == [p2]
    assert [j.id for j in pipelines.pipeline_jobs(session, p2)] == [first.job_id]
    # A rerun of the joined job is followed through its column.
    rerun = _recalc(session, p1, D.train)
    joined = session.get(Job, first.job_id)
    assert joined is not None
    joined.rerun_job_id = rerun.job_id
    assert [j.id for j in pipelines.pipeline_jobs(session, p2)] == [first.job_id, rerun.job_id]


def test_an_awaited_aggregation_keeps_the_pipeline_running_until_resolved(
        session: Session) -> None:
    pid = _pipeline(session)
    job = _recalc(session, pid)
    row = session.get(Job, job.job_id)
    assert row is not None
    row.state, row.result = JobState.FINISHED, JobResult.SUCCESS
    pipelines.await_aggregation(session, pid, MOD, YEAR)
    pipelines.await_aggregation(session, pid, MOD, YEAR)
    assert _count(session, AwaitedAggregation) == 1
    assert pipelines.awaited_keys(session) == {(MOD, YEAR)}
    assert pipelines.recompute_pipeline_status(session, pid) == PipelineStatus.RUNNING
    agg = jobs.request_aggregation(session, pipeline_id=None, module_type_id=MOD, year=YEAR,
                                   created_by="t")
    assert pipelines.resolve_awaiting(session, MOD, YEAR, agg.job_id) == [pid]
    assert _count(session, AwaitedAggregation) == 0
    assert agg.job_id in {j.id for j in pipelines.pipeline_jobs(session, pid)}


def test_a_module_job_lists_its_types_in_meta_as_before(session: Session) -> None:
    pid = _pipeline(session)
    root = jobs.create_job(session, pipeline_id=pid, job_type=JobType.module_emission_recalc,
                           target_type=TargetType.DATA_ENTRIES,
                           ingestion_method=IngestionMethod.computed,
                           module_type_id=MOD, year=YEAR, config={"only_stale": True})
    started = [_recalc(session, pid, d).job_id for d in (D.plane, D.train)]
    job_links.link_module_job(session, root.id, started=started, joined=[])
    assert job_links.module_jobs(session, [root.id])[root.id].all == started
    out = get_job(session, root.id)
    assert out is not None
    assert out.meta["config"] == {"only_stale": True, "job_ids": started,
                                  "joined_job_ids": []}
    assert [c.id for c in out.children] == started


def test_moved_keys_are_never_written_back_into_meta() -> None:
    with pytest.raises(ValueError, match="migration 0009"):
        updated({}, rerun_job_id=3)
    assert updated({"a": 1}, b=2) == {"a": 1, "b": 2}
