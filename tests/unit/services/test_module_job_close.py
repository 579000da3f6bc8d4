"""A module-level recalculation closes once each of its types is done, and says how many
types it recalculated: a type that ran again (an upload arrived while it ran, so it was
marked dirty) is one type, done when the last run of its chain is, with that run's result.
On SQLite, through the service the finish calls (``recalc_finish.close_module_job``)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.catalog import ModuleType as M
from carbon_domain.db.enums import (
    IngestionMethod,
    JobResult,
    JobState,
    JobType,
    TargetType,
)
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.services.jobs import job_links, jobs, pipelines
from carbon_domain.services.recalc.recalc_finish import close_module_job

YEAR = 2025
MOD = M.equipment


def _root(s: Session) -> tuple[uuid.UUID, int]:
    pid = pipelines.create_pipeline(s, kind=JobType.module_emission_recalc,
                                    module_type_id=MOD, year=YEAR, created_by="t").id
    root = jobs.create_job(s, pipeline_id=pid, job_type=JobType.module_emission_recalc,
                           target_type=TargetType.DATA_ENTRIES,
                           ingestion_method=IngestionMethod.computed, module_type_id=MOD,
                           year=YEAR, created_by="t", config={})
    return pid, root.id


def _type_job(s: Session, pid: uuid.UUID, det: D) -> int:
    req = jobs.request_recalc(s, pipeline_id=pid, module_type_id=MOD, data_entry_type_id=det,
                              year=YEAR, created_by="t")
    assert req.created
    return req.job_id


def _end(s: Session, job_id: int, result: JobResult = JobResult.SUCCESS,
         done: int = 0, total: int = 0) -> None:
    job = s.get(Job, job_id)
    assert job is not None
    job.state, job.result = JobState.FINISHED, result
    job.progress_done, job.progress_total = done, total
    s.flush()


def _rerun(s: Session, pid: uuid.UUID, of: int, det: D) -> int:
    """The finished job ``of`` ran again (recalc_finish.finish_job's dirty branch)."""
    again = _type_job(s, pid, det)
    job = s.get(Job, of)
    assert job is not None
    job.rerun_job_id = again
    s.flush()
    return again


def _message(s: Session, job_id: int) -> tuple[str, str | None, str | None]:
    job = s.get(Job, job_id)
    assert job is not None
    return job.state, job.result, job.status_message


def test_a_type_that_ran_again_is_counted_once(session: Session) -> None:
    pid, root = _root(session)
    it, other = _type_job(session, pid, D.it), _type_job(session, pid, D.other)
    job_links.link_module_job(session, root, started=[it, other], joined=[])
    _end(session, it)
    _end(session, other)
    _end(session, _rerun(session, pid, it, D.it))
    assert close_module_job(session, root)
    assert _message(session, root) == ("FINISHED", "SUCCESS",
                                       "Recalculated 2 data entry types")


def test_the_module_job_waits_for_the_last_run_of_each_chain(session: Session) -> None:
    """A rerun that was itself marked dirty runs a third time: until that one is done the
    type is not, and neither is the module job."""
    pid, root = _root(session)
    it = _type_job(session, pid, D.it)
    job_links.link_module_job(session, root, started=[it], joined=[])
    _end(session, it)
    second = _rerun(session, pid, it, D.it)
    _end(session, second)
    third = _rerun(session, pid, second, D.it)  # still NOT_STARTED
    assert not close_module_job(session, root)
    assert _message(session, root)[0] == "NOT_STARTED"
    _end(session, third)
    assert close_module_job(session, root)
    assert _message(session, root) == ("FINISHED", "SUCCESS",
                                       "Recalculated 1 data entry type")


def test_a_type_is_judged_by_its_last_run(session: Session) -> None:
    """The rerun read every input the first run missed: its result is the type's. A type
    whose last run failed makes the module job a WARNING, counted once."""
    pid, root = _root(session)
    it, sci = _type_job(session, pid, D.it), _type_job(session, pid, D.scientific)
    job_links.link_module_job(session, root, started=[it, sci], joined=[])
    _end(session, it, JobResult.ERROR)
    _end(session, _rerun(session, pid, it, D.it), JobResult.SUCCESS)
    _end(session, sci, JobResult.SUCCESS)
    _end(session, _rerun(session, pid, sci, D.scientific), JobResult.ERROR)
    assert close_module_job(session, root)
    assert _message(session, root) == (
        "FINISHED", "WARNING", "WARNING: recalculated 2 data entry types, 1 with errors")


def test_the_closing_progress_is_its_types_own(session: Session) -> None:
    """The chunks mirror progress onto the module job best effort (a locked row is
    skipped), and a facility type the pipeline recalculates afterwards is not the module
    job's: a finished module job read 307/368 in the console. It closes with its types'
    figures, counting a type that ran again by its last run."""
    pid, root = _root(session)
    it, other = _type_job(session, pid, D.it), _type_job(session, pid, D.other)
    job_links.link_module_job(session, root, started=[it, other], joined=[])
    job = session.get(Job, root)
    assert job is not None
    job.progress_done, job.progress_total = 10, 61  # a stale mirror
    _end(session, it, done=300, total=300)
    _end(session, other, done=7, total=7)
    _end(session, _rerun(session, pid, it, D.it), done=301, total=301)
    assert close_module_job(session, root)
    assert (job.progress_done, job.progress_total) == (308, 308)
