"""A job's progress counts every finished chunk, also when two chunks finish at once.

Two chunks of one job are held at their fence (a test transaction holds the job row), then
released together. Before the fix the second chunk's UPDATE summed the done chunks with the
snapshot it took *before* waiting for the first one's row lock, so it missed the first chunk
and the job ended at 50/100 with both chunks done (a CI run showed 1450/1500 at SUCCESS).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from carbon_domain.db.enums import JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import RecalcChunk
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.services.recalc import recalc_chunk, recalc_plan
from carbon_domain.settings import get_settings
from tests.console.support import EQUIPMENT, IT, YEAR, seed_equipment

pytestmark = pytest.mark.integration


def _waiting_on_locks(conn: Any) -> int:
    return int(conn.execute(text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock'")).scalar())


def test_two_chunks_finishing_together_both_count(db: str, worker: Any) -> None:
    seed_equipment(entries_per_type=100, types=(IT,))  # two chunks of 50 (suite chunk size)
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.emission_recalc, module_type_id=EQUIPMENT,
                                      year=YEAR, created_by="test")
        job_id = jobs.request_recalc(s, pipeline_id=p.id, module_type_id=EQUIPMENT,
                                     data_entry_type_id=IT, year=YEAR, created_by="test").job_id
    with session_scope() as s:
        (planned,) = recalc_plan.plan_jobs(s, [job_id], "task-plan")
    assert len(planned.chunk_nos) == 2

    engine = create_engine(get_settings().database_url, poolclass=NullPool)
    holder = engine.connect()
    tx = holder.begin()
    holder.execute(text("SELECT id FROM data_ingestion_jobs WHERE id = :j FOR UPDATE"),
                   {"j": job_id})
    errors: list[BaseException] = []

    def run_chunk(n: int) -> None:
        try:
            with session_scope() as s:
                recalc_chunk.recalculate_chunk(s, job_id, planned.attempt, n)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run_chunk, args=(n,)) for n in planned.chunk_nos]
    for t in threads:
        t.start()
    with engine.connect() as probe:
        deadline = time.monotonic() + 30
        while _waiting_on_locks(probe) < 2:  # both chunks wait at the fence
            assert time.monotonic() < deadline, "the chunks never reached the fence"
            time.sleep(0.05)
    tx.rollback()
    holder.close()
    for t in threads:
        t.join(timeout=60)
    engine.dispose()
    assert not errors, errors

    with session_scope() as s:
        done_entries = s.scalar(select(func.sum(RecalcChunk.entries)).where(
            RecalcChunk.job_id == job_id, RecalcChunk.done.is_(True)))
        job = s.get(Job, job_id)
        assert job is not None
        assert done_entries == 100
        assert (job.progress_done, job.progress_total) == (100, 100)
        assert job.status_message.endswith(": 100/100")
