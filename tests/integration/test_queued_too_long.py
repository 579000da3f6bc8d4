"""Work on the broker that no worker started for minutes says so, on the pipeline and on its
type, in the same words.

A worker that takes a message and fails before running it (its result-backend connection
dead after a network cut: a multi-host walk, 2026-12-08) leaves the job QUEUED; the
reconciler sends it again CARBON_STALE_JOB_SECONDS (30 min) after it was sent. Meanwhile
the pipeline and the type said "Queued — waiting for a worker", as of work a moment old.
Here the job is put on the broker's side of the outbox by hand (QUEUED, sent 5 minutes ago,
no message), which is what such a run leaves."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs as job_service
from carbon_domain.services.jobs import pipelines
from carbon_domain.services.reads import pipeline_reads
from carbon_domain.services.reads.status import year_status

from .test_pipeline_guarantees import YEAR, equipment_year  # noqa: F401 - fixture

QUEUED_FOR = "queued for 5 min (since "
AND_THEN = ("and no worker started it: it waits behind other work, or its message was lost;"
            " if nothing moves, the reconciler sends it again at ")


def _queued_it_pipeline(minutes_ago: int) -> str:
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind="emission_recalc", module_type_id=4, year=YEAR,
                                      created_by="t")
        req = job_service.request_recalc(s, pipeline_id=p.id, module_type_id=4,
                                         data_entry_type_id=11, year=YEAR, created_by="t")
        s.execute(text("UPDATE data_ingestion_jobs SET state = 'QUEUED', dispatched_at ="
                       " now() - make_interval(mins => :m) WHERE id = :j"),
                  {"m": minutes_ago, "j": req.job_id})
        return str(p.id)


def _it_detail() -> str:
    with session_scope() as s:
        (equipment,) = [m for m in map(asdict, year_status(s, YEAR))
                        if m["module_type_id"] == 4]
    (it,) = [t for t in equipment["data_entry_types"] if t["data_entry_type_id"] == 11]
    assert it["state"] == "recalculating", it
    return str(it["state_detail"])


def _silence(pid: str) -> str | None:
    with session_scope() as s:
        view = pipeline_reads.detail(s, pid)
    assert view is not None and view.display_status == "QUEUED", view
    return view.silence.text if view.silence else None


def test_queued_for_minutes_says_so_on_the_pipeline_and_its_type(equipment_year) -> None:  # type: ignore[no-untyped-def] # noqa: F811
    pid = _queued_it_pipeline(5)
    text_of_pipeline = _silence(pid)
    assert text_of_pipeline is not None and text_of_pipeline.startswith(QUEUED_FOR), (
        text_of_pipeline)
    assert AND_THEN in text_of_pipeline
    # The type: "waiting for a worker — " and the pipeline's own words.
    assert _it_detail() == f"waiting for a worker — {text_of_pipeline}"


def test_just_queued_is_only_waiting(equipment_year) -> None:  # type: ignore[no-untyped-def] # noqa: F811
    pid = _queued_it_pipeline(0)
    assert _silence(pid) is None
    assert _it_detail() == "waiting for a worker"
