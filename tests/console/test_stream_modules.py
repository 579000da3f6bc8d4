"""What a page's stream says a pipeline changes: the data page re-reads those modules' cards
(console.js). A pipeline recalculating types of another module names that module too (an
equipment upload also recalculates the research facilities); a pipeline of no module (a
reference upload) names none, and the page then re-reads every card. Before, the page
re-read the pipeline's own module only: the facilities card kept "recalculating" after the
end, and a reference upload refreshed no card at all."""

from __future__ import annotations

import time
import uuid

import pytest

from carbon_api.console import stream
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.catalog import ModuleType as M
from carbon_domain.db.enums import JobState, JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.access.console_sessions import sign_in
from carbon_domain.services.access.tokens import create_token
from carbon_domain.services.jobs import jobs, pipelines

pytestmark = pytest.mark.integration
YEAR = 2025


def _session() -> str:
    with session_scope() as s:
        token = create_token(s, "ops-stream", "operator")
        signed = sign_in(s, token)
    assert signed is not None
    return signed[0]


def _events(sid: str, pid: uuid.UUID) -> list[dict]:
    out = stream.poll(sid, YEAR, [pid], time.time() - 60, pipelines_url="/console/pipelines")
    assert out is not None
    return [e for e in out if e["id"] == str(pid)]


def test_a_pipeline_names_the_modules_of_every_type_it_recalculates(db: str) -> None:
    sid = _session()
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.emission_recalc,
                                      module_type_id=M.equipment.value, year=YEAR,
                                      created_by="t")
        for module, det in ((M.equipment, D.it), (M.research_facilities,
                                                  D.research_facilities)):
            jobs.request_recalc(s, pipeline_id=p.id, module_type_id=module.value,
                                data_entry_type_id=det.value, year=YEAR, created_by="t")
        pid = p.id
    (ev,) = _events(sid, pid)
    assert ev["modules"] == [M.equipment.value, M.research_facilities.value]
    first = ev["stage"]
    # A type that starts changes what the cards show: the stage moves with it.
    with session_scope() as s:
        from carbon_domain.db.models import DataIngestionJob as Job
        job = s.query(Job).filter(Job.pipeline_id == pid,
                                  Job.data_entry_type_id == D.it.value).one()
        job.state = JobState.RUNNING
    (ev,) = _events(sid, pid)
    assert ev["stage"] != first


def test_a_pipeline_of_no_module_names_none(db: str) -> None:
    sid = _session()
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.reference_ingest, module_type_id=None,
                                      year=None, created_by="t")
        pid = p.id
    (ev,) = _events(sid, pid)
    assert ev["modules"] == []
