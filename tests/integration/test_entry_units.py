"""An entry's quantity is priced only by a factor in its unit.

An operator's energy-combustion file gave natural gas in MWh (the factor is per kWh) and a
process-emissions file a refrigerant in tonnes (the factor is per kg): both were multiplied
by the factor as if the quantity were in the factor's unit, 1000x too small, and the upload
ended SUCCESS ("0 without a matching factor", the type "✓ up to date"). Now such an entry
has no factor — its reason names both units — so the recalculation counts it, the type is
incomplete, and an entry in the factor's unit (any case), or naming no unit, is priced as
before. Real uploads and recalculations on the test worker (PostgreSQL).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.drilldown import explain_data_entry
from carbon_domain.services.reads.status import year_status
from carbon_tasks import operations as ops

from .helpers import UNITS_CSV, emissions, jobs_of, wait_pipeline

pytestmark = pytest.mark.integration
YEAR, BUILDINGS, COMBUSTION, PROCESS, PROCESS_DET = 2025, 3, 31, 8, 50


def _ok(acc: ops.Accepted) -> list:
    p = wait_pipeline(acc.pipeline_id)
    jobs = jobs_of(acc.pipeline_id)
    assert p.status == "SUCCESS", [(j.job_type, j.result, j.status_message) for j in jobs]
    return jobs


def _upload(kind: str, body: str, module: int, det: int) -> list:
    return _ok(ops.start_upload(kind, body.encode(), module=module, det=det, year=YEAR,
                                recalculate=kind == "factors", created_by="alice"))


def _recalc_message(jobs: list) -> str:
    (job,) = [j for j in jobs if j.job_type == "emission_recalc"
              and j.data_entry_type_id in (COMBUSTION, PROCESS_DET)]
    return job.status_message


def _kg_by_entry(det: int) -> dict[int, float]:
    return {r[0]: r[3] for r in emissions(det)}


def _entry_ids(det: int) -> list[int]:
    with session_scope() as s:
        return list(s.execute(text("SELECT id FROM data_entries WHERE data_entry_type_id = :d"
                                   " ORDER BY id"), {"d": det}).scalars())


def _state(det: int) -> tuple[str, str | None]:
    with session_scope() as s:
        for m in year_status(s, YEAR):
            for t in m.data_entry_types:
                if t.data_entry_type_id == det:
                    return t.state, t.state_detail
    raise AssertionError(det)


def test_a_quantity_in_another_unit_than_its_factor_is_not_priced_by_it(db: str, worker: Any
                                                                      ) -> None:
    _ok(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="alice"))
    _upload("factors", "name,unit,ef_kg_co2eq_per_unit\nNatural gas,kWh,0.2\n"
            "Pellets,kg,0.1\n", BUILDINGS, COMBUSTION)
    jobs = _upload("data-entries",
                   "unit_institutional_id,name,unit,quantity\n"
                   "UA,Natural gas,kWh,1000\n"     # 200 kg
                   "UA,Natural gas,MWh,10\n"       # 10,000 kWh: not 2 kg
                   "UA,natural gas,KWH,500\n"      # the same unit, another case: 100 kg
                   "UB,Natural gas,,100\n"         # no unit: read in the factor's, 20 kg
                   "UB,Pellets,t,3\n",             # 3 t of pellets: not 0.3 kg
                   BUILDINGS, COMBUSTION)
    assert "2 without a matching factor" in _recalc_message(jobs)
    ids = _entry_ids(COMBUSTION)
    assert _kg_by_entry(COMBUSTION) == pytest.approx(
        {ids[0]: 200.0, ids[2]: 100.0, ids[3]: 20.0})
    with session_scope() as s:
        mwh = explain_data_entry(s, ids[1])
        tonnes = explain_data_entry(s, ids[4])
    assert mwh is not None and tonnes is not None
    assert mwh.reason == ("no factor for name='Natural gas' in unit 'MWh' (its factors are per"
                          " kWh: convert the quantity)")
    assert tonnes.reason is not None and "in unit 't'" in tonnes.reason \
        and "per kg" in tonnes.reason
    assert _state(COMBUSTION) == ("incomplete", "2 of 5 entries without a matching factor")

    _upload("factors", "category,subcategory,unit,ef_kg_co2eq_per_unit\n"
            "Refrigerant,R134a,kg,1530\nCO2,,kg,1\n", PROCESS, PROCESS_DET)
    jobs = _upload("data-entries",
                   "unit_institutional_id,category,subcategory,unit,quantity\n"
                   "UA,Refrigerant,R134a,kg,2\n"
                   "UA,Refrigerant,R134a,t,2\n"
                   "UB,CO2,,kg,5\n",
                   PROCESS, PROCESS_DET)
    assert "1 without a matching factor" in _recalc_message(jobs)
    ids = _entry_ids(PROCESS_DET)
    assert _kg_by_entry(PROCESS_DET) == pytest.approx({ids[0]: 3060.0, ids[2]: 5.0})
