"""The message and canvas each trigger kind produces, built without a broker: which task
runs a committed job (``pipeline.messages``) and the recalculation chord (issue 13)."""

from __future__ import annotations

from typing import Any

from celery.canvas import Signature, _chain, chord
from sqlalchemy.orm import Session

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.catalog import ModuleType as M
from carbon_domain.db.enums import IngestionMethod, JobResult, JobType, TargetType
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.services.jobs.job_runs import IngestWork, JobOutcome
from carbon_domain.services.recalc.recalc_plan import PlannedJob
from carbon_tasks import pipeline

YEAR = 2025


def _ingest(s: Session, job_type: JobType, recalculate: bool = False) -> Any:
    p = pipelines.create_pipeline(s, kind=job_type, module_type_id=M.professional_travel,
                             year=YEAR, created_by="t")
    return jobs.create_job(s, pipeline_id=p.id, job_type=job_type,
                           target_type=TargetType.DATA_ENTRIES,
                           ingestion_method=IngestionMethod.csv,
                           module_type_id=M.professional_travel, year=YEAR, created_by="t",
                           config={"recalculate": recalculate})


def _only(msgs: list[pipeline.Message]) -> Signature:
    assert len(msgs) == 1
    return msgs[0].signature


def _follow_ups(s: Session, job: Any, dets: list[int]) -> list[int]:
    return IngestWork(lambda *_: None).follow_ups(  # type: ignore[arg-type,return-value]
        s, job, JobOutcome(JobResult.SUCCESS, "ok", recalc_dets=dets))


def test_factor_upload_without_recalculation_sends_one_ingest_message(session: Session) -> None:
    job = _ingest(session, JobType.factor_ingest)
    sig = _only(pipeline.messages(session, [job.id]))
    assert (sig.task, sig.kwargs, sig.immutable) == (
        "carbon.ingest_factors", {"job_id": job.id}, True)
    assert _follow_ups(session, job, []) == []  # nothing to plan: no plan message at all


def test_factor_upload_with_recalculation_plans_its_types_through_the_outbox(
        session: Session) -> None:
    job = _ingest(session, JobType.factor_ingest, recalculate=True)
    assert _only(pipeline.messages(session, [job.id])).task == "carbon.ingest_factors"
    ids = _follow_ups(session, job, [D.plane, D.train])
    sig = _only(pipeline.messages(session, ids))
    assert sig.task == "carbon.plan_recalculation"
    assert sig.kwargs == {"pipeline_id": str(job.pipeline_id), "job_ids": ids,
                          "root_job_id": None}


def test_data_upload_plans_the_types_it_changed(session: Session) -> None:
    job = _ingest(session, JobType.csv_ingest)
    assert _only(pipeline.messages(session, [job.id])).task == "carbon.ingest_data_entries"
    ids = _follow_ups(session, job, [D.plane])
    assert _only(pipeline.messages(session, ids)).kwargs["job_ids"] == ids


def test_type_recalculation_is_one_plan_message(session: Session) -> None:
    p = pipelines.create_pipeline(session, kind=JobType.emission_recalc,
                             module_type_id=M.professional_travel, year=YEAR, created_by="t")
    req = jobs.request_recalc(session, pipeline_id=p.id, module_type_id=M.professional_travel,
                              data_entry_type_id=D.plane, year=YEAR, created_by="t")
    msgs = pipeline.messages(session, [req.job_id])
    assert _only(msgs).kwargs == {"pipeline_id": str(p.id), "job_ids": [req.job_id],
                                  "root_job_id": None}
    assert msgs[0].job_ids == [req.job_id]


def test_module_recalculation_carries_its_root(session: Session) -> None:
    p = pipelines.create_pipeline(session, kind=JobType.module_emission_recalc,
                             module_type_id=M.professional_travel, year=YEAR, created_by="t")
    root = jobs.create_job(session, pipeline_id=p.id, job_type=JobType.module_emission_recalc,
                           target_type=TargetType.DATA_ENTRIES,
                           ingestion_method=IngestionMethod.computed,
                           module_type_id=M.professional_travel, year=YEAR, created_by="t")
    ids = [jobs.request_recalc(session, pipeline_id=p.id, module_type_id=M.professional_travel,
                               data_entry_type_id=d, year=YEAR, created_by="t").job_id
           for d in (D.plane, D.train)]
    msgs = pipeline.messages(session, ids + [root.id])
    assert _only(msgs).kwargs == {"pipeline_id": str(p.id), "job_ids": ids,
                                  "root_job_id": root.id}
    assert msgs[0].job_ids == ids + [root.id]  # all marked QUEUED once it is published
    # Re-dispatched without its root (the reconciler): the waiting root still rides along.
    assert _only(pipeline.messages(session, ids)).kwargs["root_job_id"] == root.id


def test_aggregation_is_one_message(session: Session) -> None:
    req = jobs.request_aggregation(session, pipeline_id=None, module_type_id=M.buildings,
                                   year=YEAR, created_by="t")
    assert _only(pipeline.messages(session, [req.job_id])).task == "carbon.aggregate_module"


def test_recalculation_canvas_is_one_chord_into_finish() -> None:
    planned = [PlannedJob(1, 1, D.plane, M.professional_travel, YEAR, (0, 1)),
               PlannedJob(2, 1, D.train, M.professional_travel, YEAR, (0,))]
    canvas, task_ids = pipeline.recalculation_canvas(planned, root_job_id=9)
    assert isinstance(canvas, chord)
    assert [(t.task, t.kwargs["job_id"], t.kwargs["chunk_no"]) for t in canvas.tasks] == [
        ("carbon.recalculate_chunk", 1, 0), ("carbon.recalculate_chunk", 1, 1),
        ("carbon.recalculate_chunk", 2, 0)]
    body = canvas.body
    assert body.task == "carbon.finish_recalculation" and not body.immutable
    assert body.kwargs == {"jobs": [[1, 1], [2, 1]], "root_job_id": 9}
    assert [e["task"] for e in body.options["link_error"]] == ["carbon.recalculation_failed"]
    assert {j: set(t) for j, t in task_ids.items()} == {1: {0, 1}, 2: {0}}


def test_research_facilities_run_after_a_factor_refresh_and_close_the_root_last() -> None:
    planned = [PlannedJob(1, 1, D.plane, M.professional_travel, YEAR, (0,)),
               PlannedJob(5, 1, D.research_facilities, M.research_facilities, YEAR, (0,))]
    canvas, _ = pipeline.recalculation_canvas(planned, root_job_id=9)
    assert isinstance(canvas, _chain)
    first, second = canvas.tasks
    # Celery folds the refresh into the first chord's body: finish ─► refresh.
    finish, refresh = first.body.tasks
    assert finish.kwargs == {"jobs": [[1, 1]], "root_job_id": None}
    assert (refresh.task, refresh.kwargs) == ("carbon.refresh_facility_factors",
                                              {"job_ids": [5], "year": YEAR})
    assert [t.kwargs["job_id"] for t in second.tasks] == [5]
    assert second.body.kwargs == {"jobs": [[5, 1]], "root_job_id": 9}
