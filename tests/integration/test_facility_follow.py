"""Facility types follow the types their factors are computed from.

A research facility's factors are computed from the facility unit's own emissions (every
other type of its report). So a pipeline that rewrites rows of another type (here: one
factor upload of ``it``, recalculated incrementally) also refreshes the facility factors
and recalculates the facility types, and until it has, the status never shows them up to
date. The bench caught the opposite on a 10k-entry seed: after one revised ``it`` factor,
a later full recalculation moved research facilities from 1,508,453.557 to 1,508,445.001 kg.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from carbon_api.cli import app
from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.db.enums import JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Factor
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.status import year_status
from carbon_tasks import operations as ops

from .helpers import emissions, jobs_of, wait_pipeline

pytestmark = pytest.mark.integration
YEAR = 2025
IT = DataEntryType.it
FACILITY_MODULE = ModuleType.research_facilities.value
EQUIPMENT = ModuleType.equipment.value
# What a type that is not up to date shows while its pipeline runs (never "incomplete",
# which a facility type with a decommissioned facility id also shows when up to date).
NOT_UP_TO_DATE = {"recalculating", "needs_recalculation"}
FACILITY_DETS = (DataEntryType.research_facilities.value,
                 DataEntryType.mice_and_fish_animal_facilities.value)


def _types() -> dict[int, dict[str, Any]]:
    with session_scope() as s:
        return {t["data_entry_type_id"]: t for m in map(asdict, year_status(s, YEAR))
                for t in m["data_entry_types"]}


def _facility_results() -> tuple[list[tuple[Any, ...]], dict[tuple[int, int], Any],
                                 dict[str, Any]]:
    """Facility emission rows, every module's stats, and the computed facility factors."""
    rows = [r for d in FACILITY_DETS for r in emissions(d)]
    with session_scope() as s:
        stats = {(int(r), int(m)): {k: v for k, v in (st or {}).items() if k != "computed_at"}
                 for r, m, st in s.execute(text(
                     "SELECT carbon_report_id, module_type_id, stats"
                     " FROM carbon_report_modules"))}
        factors = {f"{f.data_entry_type_id}:{f.id}": f.values for f in s.scalars(select(Factor)
                   .where(Factor.data_entry_type_id.in_(FACILITY_DETS),
                          Factor.retired_at.is_(None)))}
    return rows, stats, factors


def _revised_it_factors(seed_dir: Path) -> bytes:
    """The seed's ``it`` factor file with every emission factor raised by half."""
    text_in = (seed_dir / f"factors/{IT.value:02d}_{IT.name}.csv").read_text()
    reader = csv.DictReader(io.StringIO(text_in))
    assert reader.fieldnames is not None
    ef = next(c for c in reader.fieldnames if c.startswith("ef_"))
    out = io.StringIO()
    writer = csv.DictWriter(out, reader.fieldnames, lineterminator="\n")
    writer.writeheader()
    for row in reader:
        row[ef] = repr(float(row[ef]) * 1.5)
        writer.writerow(row)
    return out.getvalue().encode()


@pytest.fixture
def seeded(db, worker, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path / "seed"
    result = CliRunner().invoke(app, ["seed", "--units", "3", "--entries", "1500", "--year",
                                      str(YEAR), "--out", str(out), "--seed", "3"])
    assert result.exit_code == 0, result.output
    types = _types()
    assert not any(t["needs_recalculation"] for t in types.values()), types
    return out


def test_an_it_factor_change_recalculates_the_facility_types(seeded: Path) -> None:
    before = _facility_results()
    seen: list[tuple[str, str]] = []  # (state of type 70, of type 71) once the ingest is done
    stop = threading.Event()

    def facility_pending(pipeline_id: str) -> bool:
        """The pipeline has not finished recalculating both facility types (its module
        aggregations may still run after: the types are up to date by then)."""
        with session_scope() as s:
            done = s.scalars(select(Job.data_entry_type_id).where(
                Job.pipeline_id == uuid.UUID(pipeline_id),
                Job.job_type == JobType.emission_recalc,
                Job.data_entry_type_id.in_(FACILITY_DETS), Job.state == JobState.FINISHED))
            return set(done) != set(FACILITY_DETS)

    def watch(pipeline_id: str) -> None:
        while not stop.is_set():
            with session_scope() as s:
                ingest_done = s.scalar(select(Job.id).where(
                    Job.pipeline_id == uuid.UUID(pipeline_id),
                    Job.job_type == JobType.factor_ingest,
                    Job.state == JobState.FINISHED)) is not None
            if ingest_done:
                types = _types()
                if facility_pending(pipeline_id):  # read before they were recalculated
                    seen.append((types[FACILITY_DETS[0]]["state"],
                                 types[FACILITY_DETS[1]]["state"]))
            stop.wait(0.02)

    acc = ops.start_upload("factors", _revised_it_factors(seeded), module=EQUIPMENT,
                           det=IT.value, year=YEAR, recalculate=True, created_by="test",
                           mode="merge")
    watcher = threading.Thread(target=watch, args=(acc.pipeline_id,))
    watcher.start()
    try:
        assert wait_pipeline(acc.pipeline_id, timeout=120).status == "SUCCESS"
    finally:
        stop.set()
        watcher.join()
    ran = {(j.job_type, j.data_entry_type_id) for j in jobs_of(acc.pipeline_id)}
    after = _facility_results()
    # The change reached the facility units: their computed factors moved.
    assert after[2] != before[2]
    # The same pipeline refreshed and recalculated both facility types after ``it``.
    assert {(JobType.emission_recalc, d) for d in (IT.value, *FACILITY_DETS)} <= ran, ran
    # Between the ingest and the end, the facility types were never shown up to date.
    assert seen and all(s in NOT_UP_TO_DATE for pair in seen for s in pair), seen
    types = _types()
    assert not any(t["needs_recalculation"] for t in types.values()), {
        d: t["stale_reason"] for d, t in types.items() if t["needs_recalculation"]}

    # A full recalculation of the facility types changes nothing.
    full = ops.trigger_module_recalculation(module=FACILITY_MODULE, year=YEAR, only_stale=False,
                                            created_by="test")
    assert wait_pipeline(full.pipeline_id, timeout=120).status == "SUCCESS"
    again = _facility_results()
    assert again[2] == after[2]
    assert again[0] == after[0]
    assert again[1] == after[1]


def test_a_finished_recalculation_of_another_type_makes_the_facility_types_stale(
        seeded: Path) -> None:
    """The status alone: a good recalculation of ``it`` newer than the facility types' last
    one (as a recalculation that ran without them leaves it) makes them stale, saying why."""
    with session_scope() as s:
        last = s.scalar(select(Job).where(Job.job_type == JobType.emission_recalc,
                                          Job.data_entry_type_id == IT.value)
                        .order_by(Job.id.desc()).limit(1))
        assert last is not None
        s.expunge(last)
    with session_scope() as s:  # the same recalculation once more, finished well
        s.add(Job(job_type=last.job_type, target_type=last.target_type,
                  ingestion_method=last.ingestion_method, module_type_id=last.module_type_id,
                  data_entry_type_id=last.data_entry_type_id, year=YEAR,
                  state=JobState.FINISHED, result=last.result, meta=last.meta,
                  status_message=last.status_message, finished_at=last.finished_at))
    types = _types()
    for d in FACILITY_DETS:
        assert types[d]["needs_recalculation"], types[d]
        # Before: "recalculation of a type facility factors read #253 of … is newer than …".
        assert re.search(r"^recalculation #\d+ of .* \(of a type the facility factors are"
                         r" computed from\) is newer than recalculation #\d+$",
                         types[d]["stale_reason"]), types[d]["stale_reason"]
    assert not types[IT.value]["needs_recalculation"]


@pytest.mark.parametrize("how", ["module", "type"])
def test_an_operator_recalculation_of_another_type_takes_the_facility_types_along(
        seeded: Path, how: str) -> None:
    """Both operator triggers: the pipeline ends (a module job closes with its own types, the
    facility types finishing after it in the same pipeline) and leaves nothing stale."""
    if how == "module":
        acc = ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, only_stale=False,
                                               created_by="test")
    else:
        acc = ops.trigger_recalculation(module=EQUIPMENT, det=IT.value, year=YEAR,
                                        created_by="test")
    assert wait_pipeline(acc.pipeline_id, timeout=120).status == "SUCCESS"
    ran = {(j.job_type, j.data_entry_type_id, j.state) for j in jobs_of(acc.pipeline_id)}
    for d in (IT.value, *FACILITY_DETS):
        assert (JobType.emission_recalc, d, JobState.FINISHED) in ran, ran
    types = _types()
    assert not any(t["needs_recalculation"] for t in types.values()), {
        d: t["stale_reason"] for d, t in types.items() if t["needs_recalculation"]}
    assert all(t["state"] != "recalculating" for t in types.values())
