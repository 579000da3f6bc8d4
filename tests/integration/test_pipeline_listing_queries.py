"""A page of pipelines is read in a fixed number of statements, however many finished
recalculations it shows: listings load the jobs without their meta, and counting an aborted
run's unrun chunks read each finished job's meta again (one statement per job per page, the
console's pipelines page and every stream poll)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from carbon_domain.db.session import session_scope
from carbon_domain.services.reads import pipeline_reads
from carbon_domain.services.reads.pipeline_console import PipelineFilters
from carbon_tasks import operations as ops

from .helpers import UNITS_CSV, wait_pipeline

pytestmark = pytest.mark.integration
FACTORS = ("equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
           "Laptop,Standard,100,10,0.1\n")
ENTRIES = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
           "active_usage_hours_per_week,standby_usage_hours_per_week\n"
           "UA,E1,Laptop,Laptop,Standard,40,128\nUB,E2,Laptop,Laptop,Standard,40,128\n")


def _statements_of_a_listing() -> tuple[int, int]:
    """(statements, recalculation jobs shown) of the first page of every pipeline."""
    with session_scope() as s:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))
        engine = s.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            page = pipeline_reads.listing(s, PipelineFilters())
        finally:
            event.remove(engine, "before_cursor_execute", count)
        shown = sum(len(v.types) for v in page.items)
    return len(seen), shown


def _recalculate() -> None:
    acc = ops.trigger_recalculation(module=4, det=11, year=2025, created_by="t")
    assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"


def test_a_page_of_finished_recalculations_costs_the_same_statements(db: str,
                                                                     worker: Any) -> None:
    for kind, body, kw in (("units", UNITS_CSV, {}), ("factors", FACTORS, {"module": 4, "det": 11}),
                           ("data-entries", ENTRIES, {"module": 4, "det": 11})):
        acc = ops.start_upload(kind, body.encode(), year=2025, created_by="t", **kw)
        assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
    _recalculate()
    few, shown_few = _statements_of_a_listing()
    for _ in range(3):
        _recalculate()
    many, shown_many = _statements_of_a_listing()
    assert shown_many == shown_few + 3
    assert many == few, f"{few} statements for {shown_few} recalculations, {many} for {shown_many}"
