"""The formula version each type's rows were computed with, as the module stats record it.

Every good recalculation records the code's formula version of its type
(``meta.recalculation.formula_version``); the aggregation copies the latest per type into the
module stats, so a reader of the stats knows which formulas produced them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
from carbon_domain.db.enums import JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.formula_versions import recorded_version
from carbon_domain.services.jobs.jobs import GOOD_FINISH


def _latest_good(year: int, module: int, det: int) -> Any:
    return (select(Job.id)
            .where(Job.year == year, Job.job_type == JobType.emission_recalc,
                   Job.module_type_id == module, Job.data_entry_type_id == det, GOOD_FINISH)
            .order_by(Job.id.desc()).limit(1).scalar_subquery())


def recorded_formula_versions(session: Session, module: int, year: int) -> dict[str, str]:
    """{type name: the formula version of its rows} for the module's types that were ever
    recalculated well (the module stats' ``formula_version``): one index probe per type."""
    dets = MODULE_DATA_ENTRY_TYPES[ModuleType(module)]
    ids = session.execute(select(*[_latest_good(year, module, int(d)) for d in dets])).one()
    found = [i for i in ids if i is not None]
    if not found:
        return {}
    metas: dict[int, Any] = dict(session.execute(select(Job.id, Job.meta["recalculation"])
                                 .where(Job.id.in_(found))).all())
    return {d.name: recorded_version(metas.get(i)) for d, i in zip(dets, ids, strict=True)
            if i is not None}
