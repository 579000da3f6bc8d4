"""Helpers for the HTTP API tests: uploads, waiting over HTTP, row counts. The fixtures
(``api``, ``tokens``) live in ``tests/integration/conftest.py``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import and_, func, or_, select

from carbon_domain.db.models import (
    CarbonReport,
    CarbonReportModule,
    DataEntry,
    DataIngestionJob,
    Factor,
    Pipeline,
    Unit,
    UploadedFile,
)
from carbon_domain.db.session import session_scope


@dataclass(frozen=True)
class Tokens:
    operator: str
    viewer: str

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, who)}"}

    @property
    def op(self) -> dict[str, str]:
        return self.auth("operator")

    @property
    def view(self) -> dict[str, str]:
        return self.auth("viewer")


def upload(client: TestClient, path: str, body: bytes | str, headers: dict[str, str],
           filename: str = "upload.csv", content_type: str = "text/csv",
           **params: Any) -> Any:
    data = body.encode() if isinstance(body, str) else body
    return client.post(path, params=params, headers=headers,
                       files={"file": (filename, data, content_type)})


def wait_job(client: TestClient, job_id: int, headers: dict[str, str],
             timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/sync/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["state"] == "FINISHED":
            return job
        assert time.monotonic() < deadline, f"job {job_id} not finished: {job}"
        time.sleep(0.05)


def wait_pipeline(client: TestClient, pipeline_id: str, headers: dict[str, str],
                  timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/sync/pipelines/{pipeline_id}", headers=headers)
        assert r.status_code == 200, r.text
        p = r.json()
        if p["progress"]["finished"]:
            return p
        assert time.monotonic() < deadline, f"pipeline {pipeline_id} still running: {p}"
        time.sleep(0.05)


def row_counts() -> dict[str, int]:
    """Rows of every table an upload or a trigger could write."""
    with session_scope() as s:
        return {m.__tablename__: int(s.scalar(select(func.count()).select_from(m)) or 0)
                for m in (UploadedFile, DataIngestionJob, Pipeline, Factor, DataEntry, Unit)}


def wait_idle(timeout: float = 20.0) -> None:
    """Until the worker has nothing left of this test (so the next test's TRUNCATE never
    deadlocks with a running task). A NOT_STARTED job older than a second is a job the
    broker never got (a broker-outage test): nobody will run it."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        with session_scope() as s:
            busy = s.scalar(select(func.count()).select_from(DataIngestionJob).where(or_(
                DataIngestionJob.state.in_(("QUEUED", "RUNNING")),
                and_(DataIngestionJob.state == "NOT_STARTED",
                     DataIngestionJob.created_at > func.now() - timedelta(seconds=1)))))
        quiet = quiet + 1 if not busy else 0
        time.sleep(0.05)


def insert_entry(year: int, det: int = 11, module: int = 4,
                 data: dict[str, Any] | None = None) -> int:
    """One unit, its report for ``year`` and one data entry of ``det``, written directly (no
    pipeline): a year with something to recalculate, for tests that cannot load data through
    a worker (broker down) or must not wait for one. Returns the entry id."""
    with session_scope() as s:
        unit = Unit(institutional_code=f"T-{year}-{det}", institutional_id=f"T{year}{det}",
                    name="Test lab", level=4)
        s.add(unit)
        s.flush()
        report = CarbonReport(unit_id=unit.id, year=year)
        s.add(report)
        s.flush()
        rm = CarbonReportModule(carbon_report_id=report.id, module_type_id=module)
        s.add(rm)
        s.flush()
        entry = DataEntry(carbon_report_module_id=rm.id, data_entry_type_id=det, year=year,
                          unit_id=unit.id, data=data or {"equipment_class": "Laptop"})
        s.add(entry)
        s.flush()
        return int(entry.id)
