"""A units file row whose place in the hierarchy is impossible is skipped with its reason (the
upload ends WARNING, the rest lands), as every units row that cannot land
(docs/uploads.md#units-rows).

Before, a parent that does not exist (`NOPARENT`), a unit that is its own parent, and a
level outside the hierarchy's 1 (the university) … 4 (a lab) — level 9 — were all stored
and the upload ended SUCCESS. A parent defined later in the same file, or already a unit of
the year in the database, is valid: such files load as before (the seed generator's units
files: tests/integration/test_seed_cli.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from carbon_domain.db.models import CarbonReport, Unit
from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .helpers import jobs_of, wait_pipeline

pytestmark = pytest.mark.integration
YEAR = 2025
HEAD = "institutional_code,institutional_id,name,level,parent_institutional_code\n"


def _upload(body: str, year: int = YEAR) -> Any:
    acc = ops.start_upload("units", (HEAD + body).encode(), year=year, created_by="t")
    wait_pipeline(acc.pipeline_id)
    (job,) = jobs_of(acc.pipeline_id)
    return job


def _errors(job: Any) -> dict[int, str]:
    return {e["row"]: e["reason"] for e in job.meta["row_errors"]}


def _units(year: int = YEAR) -> dict[str, str | None]:
    """The units reported in ``year``, with their parent."""
    with session_scope() as s:
        return dict(s.execute(
            select(Unit.institutional_code, Unit.parent_institutional_code)
            .join(CarbonReport, CarbonReport.unit_id == Unit.id)
            .where(CarbonReport.year == year)).all())


def test_a_units_row_outside_the_hierarchy_is_skipped_with_its_reason(db: str,
                                                                      worker: Any) -> None:
    job = _upload("UNI,1,University,1,\n"
                  "LAB-C,13,Lab C,4,SCHOOL\n"       # its parent comes later in the file
                  "SCHOOL,12,School,2,UNI\n"
                  "LAB-N,14,Lab N,4,NOPARENT\n"
                  "LAB-S,15,Lab S,4,LAB-S\n"
                  "LAB-9,16,Lab 9,9,UNI\n"
                  "CYC-A,17,A,3,CYC-B\n"
                  "CYC-B,18,B,3,CYC-A\n"
                  "LAB-X,19,Lab X,4,CYC-A\n")       # under a skipped row
    assert job.result == "WARNING", job.status_message
    assert _errors(job) == {
        5: "parent_institutional_code 'NOPARENT' is no unit (no usable row of this file, no"
           " stored unit)",
        6: "parent_institutional_code 'LAB-S' is the unit itself",
        7: "level: 9 is not a unit level (1 = the university … 4 = a lab)",
        8: "parent_institutional_code 'CYC-B' makes unit 'CYC-A' its own ancestor"
           " (CYC-A → CYC-B → CYC-A)",
        9: "parent_institutional_code 'CYC-A' makes unit 'CYC-B' its own ancestor"
           " (CYC-B → CYC-A → CYC-B)",
        10: "parent_institutional_code 'CYC-A' is no unit (no usable row of this file, no"
            " stored unit); its own row was skipped"}
    assert "3 units synced, 6 rows skipped" in job.status_message
    assert _units() == {"UNI": None, "SCHOOL": "UNI", "LAB-C": "SCHOOL"}
    with session_scope() as s:  # nothing of the skipped rows was stored
        assert set(s.scalars(select(Unit.institutional_code))) == {"UNI", "SCHOOL", "LAB-C"}

    # A parent already a unit of the year: valid, SUCCESS.
    job = _upload("LAB-D,20,Lab D,4,SCHOOL\n")
    assert (job.result, _errors(job)) == ("SUCCESS", {}), job.status_message
    assert _units()["LAB-D"] == "SCHOOL"

    # Another year: units are shared by every year, so a lab of 2024 may name SCHOOL (a
    # unit since 2025's file) without listing it; a parent nobody ever listed is still refused.
    job = _upload("LAB-E,21,Lab E,4,SCHOOL\nLAB-F,22,Lab F,4,NOWHERE\n", 2024)
    assert job.result == "WARNING" and _errors(job) == {
        3: "parent_institutional_code 'NOWHERE' is no unit (no usable row of this file, no"
           " stored unit)"}, job.status_message
    assert _units(2024) == {"LAB-E": "SCHOOL"}
    job = _upload("UNI,1,University,1,\nSCHOOL,12,School,2,UNI\nLAB-E,21,Lab E,4,SCHOOL\n",
                  2024)
    assert (job.result, _errors(job)) == ("SUCCESS", {}), job.status_message
    assert _units(2024) == {"UNI": None, "SCHOOL": "UNI", "LAB-E": "SCHOOL"}
