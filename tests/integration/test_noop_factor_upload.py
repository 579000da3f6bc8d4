"""A factor upload that changed nothing (every factor of the file already live with the same
values, none retired) is no newer input: the type it was uploaded for stays up to date, as
a reference upload that changes no number of a year leaves that year's types alone.
Re-uploading the same file is what an operator does to check a file, or by mistake; the
status said "⚠ needs recalculation" (and "only stale" recalculated) although recalculating
could change nothing. Real uploads and recalculations on the test worker. Also: an upload
without the module or year its kind needs is refused where it is accepted."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.stale_stats import stale_stats
from carbon_domain.services.reads.status import year_status
from carbon_tasks import operations as ops

from .helpers import UNITS_CSV, jobs_of, wait_pipeline

pytestmark = pytest.mark.integration
YEAR = 2025
EQUIPMENT = 4
FACTORS = ("equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
           "Laptop,,100,10,0.1\nDesktop,,200,20,0.1\n")
REVISED = FACTORS.replace("Desktop,,200,20,0.1", "Desktop,,200,20,0.2")
ENTRIES = ("unit_institutional_id,equipment_id,name,equipment_class,"
           "active_usage_hours_per_week,standby_usage_hours_per_week\n"
           "UA,E1,L,Laptop,40,128\nUA,E2,D,Desktop,40,128\n")


def _run(acc: Any) -> list[Any]:
    assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    return list(jobs_of(acc.pipeline_id))


def _factors(body: str) -> tuple[int, str]:
    (job,) = _run(ops.start_upload("factors", body.encode(), module=EQUIPMENT, det=D.it,
                                   year=YEAR, created_by="alice"))
    return int(job.id), str(job.status_message)


def _it() -> Any:
    with session_scope() as s:
        (t,) = [t for m in year_status(s, YEAR) for t in m.data_entry_types
                if t.data_entry_type_id == D.it]
    return t


def _stale_it() -> list[Any]:
    with session_scope() as s:
        return [x for x in stale_stats(s, 0, year=YEAR).stale
                if x.data_entry_type_id == D.it]


def test_the_same_factor_file_again_changes_nothing_and_reads_up_to_date(db: str,
                                                                         worker: Any) -> None:
    _run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="t"))
    first, _ = _factors(FACTORS)
    _run(ops.start_upload("data-entries", ENTRIES.encode(), module=EQUIPMENT, det=D.it,
                          year=YEAR, created_by="t"))
    _run(ops.trigger_recalculation(module=EQUIPMENT, det=D.it, year=YEAR, created_by="t"))
    assert _it().state == "up_to_date"

    again, message = _factors(FACTORS)
    assert "0 inserted, 0 updated, 2 unchanged" in message and "0 retired" in message
    it = _it()
    assert (it.state, it.needs_recalculation, it.reasons) == ("up_to_date", False, [])
    assert _stale_it() == []
    with pytest.raises(ops.NothingToRecalculate):  # "only stale" has nothing to do
        ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, created_by="t")

    # A file that changes one factor is an input; the same file once more changes nothing,
    # so the reason still names the upload that changed the factor.
    revised, _ = _factors(REVISED)
    assert _it().state == "needs_recalculation"
    _factors(REVISED)
    it = _it()
    assert it.state == "needs_recalculation" and it.needs_recalculation
    assert len(it.reasons) == 1 and f"factor upload #{revised} " in it.reasons[0]
    assert [x.state for x in _stale_it()] == ["needs_recalculation"]
    _run(ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, created_by="t"))
    assert _it().state == "up_to_date"
    assert first < again < revised


@pytest.mark.parametrize(("kind", "kwargs", "field"), [
    ("units", {}, "year"),
    ("factors", {"year": YEAR}, "module_type_id"),
    ("factors", {"module": EQUIPMENT, "det": D.it}, "year"),
    ("data-entries", {"module": EQUIPMENT, "det": D.it}, "year"),
])
def test_an_upload_without_its_module_or_year_is_refused_before_anything_is_written(
        db: str, kind: str, kwargs: dict[str, Any], field: str) -> None:
    """A units upload without its year was accepted and its job failed with a bare
    AssertionError in the worker; each kind's scope is now checked where it is accepted."""
    body = {"units": UNITS_CSV, "factors": FACTORS, "data-entries": ENTRIES}[kind]
    with pytest.raises(ops.InvalidInput) as refused:
        ops.start_upload(kind, body.encode(), created_by="t", **kwargs)
    assert refused.value.field == field and "needs its" in str(refused.value)
    with session_scope() as s:
        assert s.execute(text("SELECT count(*) FROM data_ingestion_jobs")).scalar() == 0
        assert s.execute(text("SELECT count(*) FROM pipelines")).scalar() == 0
