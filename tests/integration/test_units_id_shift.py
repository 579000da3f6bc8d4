"""A units file whose skipped row leaves an id that the next row takes over: the rows that
cannot land are skipped with their reason, the upload ends WARNING and the rest lands.

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
