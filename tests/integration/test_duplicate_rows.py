"""A file that gives the same key twice says so: every earlier row of the key is skipped and
reported (its row number, the row that repeats it, whose values were kept) and the job ends
WARNING; the last row still wins. Factors, the three reference kinds and units; data entry
files keep both rows (two laptops are two entries). Real uploads on the test worker
(PostgreSQL; tests/unit/services/test_duplicate_rows_sqlite.py runs the same ingest on
SQLite). Before: the earlier rows were dropped silently ("rows 2, processed 2, skipped 0",
SUCCESS).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from carbon_domain.db.models import DataEntry, Factor, Unit
from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.reference_reads import reference_rows
from carbon_tasks import operations as ops

from .helpers import UNITS_CSV, jobs_of, wait_pipeline

pytestmark = pytest.mark.integration
YEAR, EQUIPMENT, IT = 2025, 4, 11
IT_HEAD = "equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"


def _job(acc: ops.Accepted) -> Any:
    wait_pipeline(acc.pipeline_id)
    (job,) = [j for j in jobs_of(acc.pipeline_id) if j.id == acc.job_id]
    return job


def _report(job: Any) -> tuple[Any, ...]:
    m = job.meta
    return job.result, m["rows"], m["processed"], m["skipped"], m["row_errors"]


def test_a_factor_file_with_a_key_twice_reports_the_row_it_did_not_use(db: str, worker: Any
                                                                        ) -> None:
    body = IT_HEAD + "Laptop,,100,10,0.1\nDesktop,,200,20,0.1\nLaptop,,100,10,0.3\n"
    job = _job(ops.start_upload("factors", body.encode(), module=EQUIPMENT, det=IT,
                                year=YEAR, created_by="alice"))
    reason = ("duplicate of row 4, whose values were kept (the last row of a factor wins):"
              " it factor equipment_class='Laptop'")
    assert _report(job) == ("WARNING", 3, 2, 1, [{"row": 2, "reason": reason}])
    assert job.status_message == (
        "WARNING: 2 factors: 2 inserted, 0 updated, 0 unchanged, 0 retired, 1 row skipped"
        f" — first error: row 2: {reason}")
    with session_scope() as s:
        laptop = s.scalars(select(Factor).where(
            Factor.classification["equipment_class"].as_string() == "Laptop")).one()
        assert laptop.values["ef_kg_co2eq_per_kwh"] == 0.3  # the last row won, as before


def test_reference_and_unit_files_with_a_key_twice_report_the_rows_they_did_not_use(
        db: str, worker: Any) -> None:
    units = _job(ops.start_upload(
        "units", (UNITS_CSV + "LAB-A,UA,Lab A renamed,4,\n").encode(), year=YEAR,
        created_by="alice"))
    assert _report(units) == ("WARNING", 3, 2, 1, [{"row": 2, "reason": (
        "duplicate of row 4, whose values were kept (the last row of a unit wins):"
        " unit 'LAB-A'")}])
    stations = _job(ops.start_upload(
        "stations", b"name,latitude,longitude,country_code\nNyon,46.38,6.24,CH\n"
                    b"Geneva,46.2,6.14,CH\nnyon,46.39,6.25,ch\nNyon,46.40,6.26,CH\n",
        created_by="alice"))
    why = ("duplicate of row 5, whose values were kept (the last row of a station wins):"
           " station 'Nyon' (CH)")
    assert _report(stations) == ("WARNING", 4, 2, 2, [
        {"row": 2, "reason": why},
        {"row": 4, "reason": why.replace("'Nyon'", "'nyon'")}])
    rooms = _job(ops.start_upload(
        "building-rooms", b"building_name,room_name,room_type,room_surface_square_meter\n"
                          b"BC,BC 1,office,20\nBC,BC 1,office,25\n", created_by="alice"))
    assert _report(rooms) == ("WARNING", 2, 1, 1, [{"row": 2, "reason": (
        "duplicate of row 3, whose values were kept (the last row of a room wins):"
        " room 'BC 1' of building 'BC'")}])
    rates = _job(ops.start_upload(
        "exchange-rates", b"year,currency,rate_to_eur\n2025,chf,1.1\n2025,CHF,1.2\n",
        mode="merge", created_by="alice"))
    assert _report(rates) == ("WARNING", 2, 1, 1, [{"row": 2, "reason": (
        "duplicate of row 3, whose values were kept (the last row of a rate wins):"
        " rate of CHF for 2025")}])
    with session_scope() as s:
        rows = reference_rows(s)
        assert s.scalars(select(Unit.name).where(Unit.institutional_code == "LAB-A")).one() \
            == "Lab A renamed"
    assert [(n, lat) for n, lat, _, _ in rows.stations if n.lower() == "nyon"] == [
        ("Nyon", 46.40)]
    assert [(b, r, m2) for b, r, _, m2 in rows.rooms] == [("BC", "BC 1", 25.0)]
    assert [rate for y, c, rate in rows.rates if (y, c.lower()) == (2025, "chf")] == [1.2]


def test_a_data_entry_file_keeps_two_identical_rows_as_two_entries(db: str, worker: Any
                                                                   ) -> None:
    _job(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="alice"))
    _job(ops.start_upload("factors", (IT_HEAD + "Laptop,,100,10,0.1\n").encode(),
                          module=EQUIPMENT, det=IT, year=YEAR, created_by="alice"))
    row = "UA,E1,Laptop 1,Laptop,40,128\n"
    job = _job(ops.start_upload(
        "data-entries", ("unit_institutional_id,equipment_id,name,equipment_class,"
                         "active_usage_hours_per_week,standby_usage_hours_per_week\n"
                         + row + row).encode(), module=EQUIPMENT, det=IT, year=YEAR,
        created_by="alice"))
    assert _report(job) == ("SUCCESS", 2, 2, 0, [])
    with session_scope() as s:
        assert len(s.scalars(select(DataEntry.id)).all()) == 2
