"""The facility types a pipeline must recalculate beside the types it was asked for.

Research-facility factors are computed from the facility units' own emissions, i.e. from
the rows of every other type (services/recalc/facilities.py). A pipeline that rewrites any
of those rows therefore also recalculates the year's facility types, in its second stage
(chord(other types) ─► refresh_facility_factors ─► chord(facility types)): otherwise the
facility rows keep numbers a full recalculation no longer gives (a 10k-entry seed after one
revised ``it`` factor: research facilities 1,508,453.557 kg where a full run gives
1,508,445.001).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain.catalog import FACILITY_TYPE_IDS, MODULE_OF, DataEntryType
from carbon_domain.db.enums import JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.services.jobs import jobs


def facility_followers(session: Session, dets: Iterable[int], year: int) -> list[int]:
    """Facility types of ``year`` that recalculating ``dets`` can change, when ``dets`` holds
    a type that is not a facility type itself: those with a good factor or data entry upload
    for the year (their own or module-wide), the same test the status makes before it counts
    another type's recalculation as a facility type's input (reads/status_probes.py)."""
    asked = set(dets)
    if not asked - set(FACILITY_TYPE_IDS):
        return []
    out = []
    for d in FACILITY_TYPE_IDS:
        if d in asked:
            continue
        module = MODULE_OF[DataEntryType(d)].value
        found = session.scalar(select(Job.id).where(
            Job.year == year, Job.job_type.in_((JobType.factor_ingest, JobType.csv_ingest)),
            Job.module_type_id == module,
            (Job.data_entry_type_id == d) | Job.data_entry_type_id.is_(None),
            jobs.GOOD_FINISH).limit(1))
        if found is not None:
            out.append(d)
    return out


def request_followers(session: Session, *, pipeline_id: uuid.UUID | None, dets: Iterable[int],
                      year: int, created_by: str | None, input_job_id: int | None = None
                      ) -> list[jobs.Request]:
    """Request, in the same pipeline, the recalculation of the facility types that follow
    ``dets`` (a running one is made to run once more when an upload brought the change)."""
    return [jobs.request_recalc(
        session, pipeline_id=pipeline_id, module_type_id=MODULE_OF[DataEntryType(d)].value,
        data_entry_type_id=d, year=year, created_by=created_by, input_job_id=input_job_id)
        for d in facility_followers(session, dets, year)]
