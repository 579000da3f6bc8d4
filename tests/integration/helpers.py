"""Shared helpers for pipeline tests: wait for pipelines, read rows, stop the suite's worker
taking tasks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select, text

import celeryconfig
from carbon_domain.db.models import DataIngestionJob, Pipeline
from carbon_domain.db.session import session_scope

UNITS_CSV = (
    "institutional_code,institutional_id,name,level,parent_institutional_code\n"
    "LAB-A,UA,Lab A,4,\n"
    "LAB-B,UB,Lab B,4,\n"
)


def wait_pipeline(pipeline_id: str, timeout: float = 60.0) -> Pipeline:
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as s:
            p = s.get(Pipeline, uuid.UUID(str(pipeline_id)))
            assert p is not None
            if p.status != "RUNNING":
                return p
        if time.monotonic() > deadline:
            with session_scope() as s:
                rows = [(j.id, j.job_type, j.state, j.result, j.status_message) for j in
                        s.scalars(select(DataIngestionJob).order_by(DataIngestionJob.id))]
            raise AssertionError(f"pipeline {pipeline_id} still RUNNING; jobs: {rows}")
        time.sleep(0.1)


def jobs_of(pipeline_id: str) -> list[DataIngestionJob]:
    with session_scope() as s:
        return list(s.scalars(select(DataIngestionJob).where(
            DataIngestionJob.pipeline_id == uuid.UUID(str(pipeline_id)))
            .order_by(DataIngestionJob.id)))


def emissions(det: int | None = None) -> list[tuple[Any, ...]]:
    q = ("SELECT e.data_entry_id, e.emission_type_id, e.scope, e.kg_co2eq, e.additional_value,"
         " e.primary_factor_id FROM data_entry_emissions e JOIN data_entries d ON d.id ="
         " e.data_entry_id")
    params: dict[str, Any] = {}
    if det is not None:
        q += " WHERE d.data_entry_type_id = :d"
        params["d"] = det
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(q + " ORDER BY 1, 2"), params)]


def module_stats(unit_code: str, module: int, year: int) -> dict[str, Any]:
    with session_scope() as s:
        return s.execute(text(
            "SELECT m.stats FROM carbon_report_modules m JOIN carbon_reports r ON r.id ="
            " m.carbon_report_id JOIN units u ON u.id = r.unit_id WHERE u.institutional_code ="
            " :c AND r.year = :y AND m.module_type_id = :m"), {"c": unit_code, "y": year,
                                                              "m": module}).scalar() or {}


def count(model: Any) -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


QUEUES = [*(q.name for q in celeryconfig.task_queues), "celery"]


@contextmanager
def no_worker() -> Iterator[None]:
    """Every worker of this session stops taking tasks (their messages wait on the broker)
    until the block ends: "no worker" for real (``cancel_consumer``, as tests/fault does);
    ``add_consumer`` puts it back."""
    from celery.utils.nodenames import anon_nodename

    from carbon_tasks.app import app

    mine = anon_nodename()  # start_worker's name: this process's worker only
    names = [n for reply in (app.control.ping(timeout=1.0) or []) for n in reply if n == mine]
    assert names, "the suite's worker does not answer"
    for q in QUEUES:
        app.control.cancel_consumer(q, destination=names, reply=True, timeout=2)
    try:
        yield
    finally:
        for q in QUEUES:
            app.control.add_consumer(q, destination=names, reply=True, timeout=2)


def stats_and_rows_kg(year: int, module: int, dets: tuple[int, ...]) -> tuple[float, float]:
    """A module's total kg for ``year`` from its statistics, and the kg of the emission rows
    of ``dets``: equal once the aggregation has read the rows."""
    with session_scope() as s:
        stats = s.execute(text(
            "SELECT coalesce(sum((m.stats->>'total')::numeric), 0) FROM carbon_report_modules m"
            " JOIN carbon_reports r ON r.id = m.carbon_report_id"
            " WHERE r.year = :y AND m.module_type_id = :m"), {"y": year, "m": module}).scalar()
        rows = s.execute(text(
            "SELECT coalesce(sum(e.kg_co2eq), 0) FROM data_entry_emissions e"
            " JOIN data_entries d ON d.id = e.data_entry_id"
            " WHERE d.year = :y AND d.data_entry_type_id = ANY(:d)"),
            {"y": year, "d": list(dets)}).scalar()
    return round(float(stats), 6), round(float(rows), 6)
