"""Units file rows that cannot land are skipped with their reason, the upload ends WARNING
and the rest lands: a row whose skipped neighbour leaves it an id already held, and a row
that would renumber a unit reported in another year.

Seeding a second year with one unit fewer shifted every institutional id after a dropped
unit down by one. The first shifted row was refused (its new id belonged to a unit not in
the file) and its unit kept its id, which the next row then took: the UPDATE met the unique
constraint and the whole upload failed with a raw IntegrityError in its message."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from carbon_domain.db.models import Unit
from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .helpers import jobs_of, wait_pipeline

pytestmark = pytest.mark.integration
HEAD = "institutional_code,institutional_id,name,level,parent_institutional_code\n"
FIRST = HEAD + "UNI,1,U,1,\nLSC,8,L,4,UNI\nVPA,9,V,2,UNI\nPTF,10,P,3,VPA\nCPG,11,C,4,PTF\n"
# LSC is gone from this file; the ids after it moved down by one.
SHIFTED = HEAD + "UNI,1,U,1,\nVPA,8,V,2,UNI\nPTF,9,P,3,VPA\nCPG,10,C,4,PTF\nNEW,12,N,4,UNI\n"


def _upload(body: str, year: int) -> Any:
    acc = ops.start_upload("units", body.encode(), year=year, created_by="t")
    assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    (job,) = jobs_of(acc.pipeline_id)
    return job


def _ids() -> dict[str, str | None]:
    with session_scope() as s:
        return dict(s.execute(select(Unit.institutional_code, Unit.institutional_id)).all())


def test_a_skipped_units_id_is_not_taken_by_the_next_row(db: str, worker: Any) -> None:
    _upload(FIRST, 2025)
    job = _upload(SHIFTED, 2024)
    assert job.result == "WARNING", job.status_message
    errors = {e["row"]: e["reason"] for e in job.meta["row_errors"]}
    assert errors == {
        3: "institutional_id '8' already belongs to unit 'LSC'",
        4: "institutional_id '9' already belongs to unit 'VPA' (its own row was skipped)",
        5: "institutional_id '10' already belongs to unit 'PTF' (its own row was skipped)"}
    assert "IntegrityError" not in (job.status_message or "")
    assert _ids() == {"UNI": "1", "LSC": "8", "VPA": "9", "PTF": "10", "CPG": "11",
                      "NEW": "12"}


# -- a unit reported in another year keeps its institutional id -----------------------------
# Units are shared by every year, and their institutional id is what each year's entry files
# (``unit_institutional_id``) and research-facility factors (``researchfacility_id``) name
# them by. A 2023 units file (the seed of another size) moved the ids of 18 units reported
# in 2024 and 2025 and ended "WARNING: 2 rows skipped" for other reasons: their entry files
# then failed on unknown units, and a 2024 facility factor was refreshed from another unit's
# emissions with every type reading "up to date".

def test_a_unit_reported_in_another_year_keeps_its_institutional_id(db: str,
                                                                     worker: Any) -> None:
    _upload(HEAD + "UNI,1,U,1,\nSCITAS,10019,S,4,UNI\nLCC,10020,L,4,UNI\n", 2024)
    _upload(HEAD + "UNI,1,U,1,\nSCITAS,10019,S,4,UNI\nLCC,10020,L,4,UNI\n", 2025)
    # 2023, renumbered: SCITAS would move to a free id and LCC take SCITAS's.
    job = _upload(HEAD + "UNI,1,U,1,\nSCITAS,10030,S,4,UNI\nLCC,10019,L,4,UNI\n"
                  "NEW,10031,N,4,UNI\n", 2023)
    assert job.result == "WARNING", job.status_message  # before: SUCCESS, both moved
    errors = {e["row"]: e["reason"] for e in job.meta["row_errors"]}
    assert errors == {
        3: "unit 'SCITAS' is '10019' in its 2024, 2025 reports, not '10030': an"
           " institutional id names its unit in every year's files, so it is kept",
        4: "unit 'LCC' is '10020' in its 2024, 2025 reports, not '10019': an"
           " institutional id names its unit in every year's files, so it is kept"}
    assert _ids() == {"UNI": "1", "SCITAS": "10019", "LCC": "10020", "NEW": "10031"}


def test_a_row_taking_a_kept_id_is_skipped_with_it(db: str, worker: Any) -> None:
    """The unit whose move is refused keeps its id; a unit of this year only that would
    take that id over is skipped too (it would meet the unique constraint)."""
    _upload(HEAD + "UNI,1,U,1,\nSCITAS,10019,S,4,UNI\n", 2024)
    _upload(HEAD + "UNI,1,U,1,\nLCC,10050,L,4,UNI\n", 2023)  # LCC: a 2023 unit only
    job = _upload(HEAD + "UNI,1,U,1,\nSCITAS,10030,S,4,UNI\nLCC,10019,L,4,UNI\n", 2023)
    assert job.result == "WARNING", job.status_message
    errors = {e["row"]: e["reason"] for e in job.meta["row_errors"]}
    assert errors == {
        3: "unit 'SCITAS' is '10019' in its 2024 report, not '10030': an institutional id"
           " names its unit in every year's files, so it is kept",
        4: "institutional_id '10019' already belongs to unit 'SCITAS' (its own row was"
           " skipped)"}
    assert _ids() == {"UNI": "1", "SCITAS": "10019", "LCC": "10050"}


def test_a_unit_of_this_year_only_may_change_its_id(db: str, worker: Any) -> None:
    _upload(HEAD + "UNI,1,U,1,\nLCC,10050,L,4,UNI\n", 2023)
    job = _upload(HEAD + "UNI,1,U,1,\nLCC,10051,L,4,UNI\n", 2023)
    assert job.result == "SUCCESS", job.status_message
    assert _ids() == {"UNI": "1", "LCC": "10051"}
