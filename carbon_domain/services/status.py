"""Staleness status, derived from job id ordering (a higher id is a later job), never clocks.

For a (module, data entry type, year) the last input job is the highest-id FINISHED,
non-ERROR job that changed its inputs (factor upload for that type or its whole module,
data entry upload for that type or its whole module). It needs recalculation while no
FINISHED, non-ERROR recalculation covers it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job

_INPUT_TYPES = (JobType.factor_ingest, JobType.csv_ingest)


def recalculation_status(session: Session, year: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Job.id, Job.job_type, Job.module_type_id, Job.data_entry_type_id, Job.state,
               Job.result, Job.meta)
        .where(Job.year == year,
               or_(Job.job_type.in_(_INPUT_TYPES), Job.job_type == JobType.emission_recalc))
        .order_by(Job.id)
    ).all()
    out: list[dict[str, Any]] = []
    for module in ModuleType:
        types = []
        for det in MODULE_DATA_ENTRY_TYPES[module]:
            entry = _type_status(rows, module.value, det.value)
            if entry is not None:
                types.append(entry)
        if types:
            out.append({
                "module_type_id": module.value, "module_name": module.name, "year": year,
                "needs_recalculation": any(t["needs_recalculation"] for t in types),
                "recalculation_in_progress": any(t["recalculation_in_progress"] for t in types),
                "data_entry_types": types,
            })
    return out


def _type_status(rows: list[Any], module: int, det: int) -> dict[str, Any] | None:
    inputs = [r for r in rows if r.job_type in _INPUT_TYPES and r.module_type_id == module
              and r.data_entry_type_id in (det, None)
              and r.state == JobState.FINISHED and r.result != JobResult.ERROR]
    if not inputs:
        return None
    last_input = inputs[-1]
    recalcs = [r for r in rows if r.job_type == JobType.emission_recalc
               and r.module_type_id == module and r.data_entry_type_id == det]
    finished = [r for r in recalcs if r.state == JobState.FINISHED]
    good = [r for r in finished if r.result != JobResult.ERROR]
    covered = any(max(r.id, int((r.meta or {}).get("covers_input_job_id") or 0)) > last_input.id
                  for r in good)
    last_recalc = finished[-1] if finished else None
    return {
        "data_entry_type_id": det,
        "data_entry_type_name": DataEntryType(det).name,
        "needs_recalculation": not covered,
        "recalculation_in_progress": any(r.state in ACTIVE_STATES for r in recalcs),
        "last_input_job_id": last_input.id,
        "last_input_job_type": last_input.job_type,
        "last_input_job_result": last_input.result,
        "last_recalculation_job_id": last_recalc.id if last_recalc else None,
        "last_recalculation_job_result": last_recalc.result if last_recalc else None,
    }


def stale_types(session: Session, module_type_id: int, year: int) -> list[int]:
    for m in recalculation_status(session, year):
        if m["module_type_id"] == module_type_id:
            return [t["data_entry_type_id"] for t in m["data_entry_types"]
                    if t["needs_recalculation"]]
    return []
