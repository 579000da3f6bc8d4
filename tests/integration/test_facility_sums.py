"""The research-facility refresh reads the facility units' emission totals from the
aggregation's partial sums (``slice_sums_read.read_sums``) where they vouch for a slice, and from
the rows elsewhere (services/recalc/facilities.py). Either way the totals must be exactly
those of the rows: every facility factor, and so every facility row, is computed from them.

Each state below is one the refresh meets in a pipeline: slices folded by their aggregation,
a finished incremental (delta) or full recalculation not folded yet (the refresh runs while
the aggregation of the types it follows is still queued or running), a slice being
rewritten, entries replaced, and an aggregation folding between the plan and the read.
Each asserts which slices were vouched for, so a read that always fell back to the rows
(the slow path) fails too."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import text

from carbon_domain.catalog import MODULE_OF
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.enums import JobResult, JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.slices import clear_caches
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.services.recalc import (
    facilities,
    recalc_chunk,
    recalc_finish,
    recalc_plan,
    slice_sums,
    slice_sums_read,
)
from carbon_domain.services.recalc.aggregate import aggregate_module_year
from tests.integration import incremental_support as u

pytestmark = pytest.mark.integration
UNITS = [1, 2]
OTHERS = [d.value for d in D if d not in (D.research_facilities,
                                          D.mice_and_fish_animal_facilities)]


def _from_rows() -> dict[int, dict[int, float]]:
    """The totals straight from the rows: what the refresh read before partial sums."""
    from bench.incremental import unit_totals_from_rows

    out: dict[int, dict[int, float]] = {x: {} for x in UNITS}
    with session_scope() as s:
        for unit, by_type in unit_totals_from_rows(s, u.YEAR, UNITS).items():
            out[unit].update(by_type)
    return out


def _crms() -> list[int]:
    with session_scope() as s:
        return [int(i) for i in s.execute(text(
            "SELECT m.id FROM carbon_report_modules m JOIN carbon_reports r"
            " ON r.id = m.carbon_report_id WHERE r.unit_id IN (1, 2)")).scalars()]


def _check(vouched: set[int], not_vouched: set[int]) -> None:
    """The refresh's totals equal the rows' bit for bit; the slices were read as said."""
    with session_scope() as s:
        got = facilities._facility_emissions(s, UNITS, u.YEAR)
        read = slice_sums_read.read_sums(s, u.YEAR, OTHERS, _crms())
    assert read is not None
    assert vouched <= read.vouched, read.vouched
    assert not (not_vouched & read.vouched), read.vouched
    expected = _from_rows()
    assert got == expected
    assert any(got.values())  # something was summed at all


def _recalculate(det: D, kind: JobType, *, aggregate: bool) -> int:
    """plan → every chunk → finish in-process, the aggregation only if asked (its absence
    leaves the job's partials unfolded, as when the refresh runs before the aggregation)."""
    module = MODULE_OF[det].value
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=kind, module_type_id=module, year=u.YEAR,
                                      created_by="test")
        job_id = jobs.request_recalc(s, pipeline_id=p.id, module_type_id=module,
                                     data_entry_type_id=det.value, year=u.YEAR,
                                     created_by="test").job_id
    with session_scope() as s:
        (planned,) = recalc_plan.plan_jobs(s, [job_id], "task-plan")
    for n in planned.chunk_nos:
        with session_scope() as s:
            assert not recalc_chunk.recalculate_chunk(s, job_id, planned.attempt, n).skipped
    with session_scope() as s:
        out = recalc_finish.finish_job(s, job_id, planned.attempt)
        assert out is not None and out.result != JobResult.ERROR
    if aggregate:
        with session_scope() as s:
            aggregate_module_year(s, module, u.YEAR)
    return job_id


def _revise(det: D, live: dict[int, tuple[u.FactorSpec, dict[str, Any]]],
            rng: random.Random) -> None:
    """A new value for one live factor of ``det`` (few entries affected: an incremental
    recalculation), stamped by a finished upload job."""
    i = min(live)
    spec, values = live[i]
    while (new := u.factor_values(spec, rng)) == values:
        pass
    live[i] = (spec, new)
    u.write_factors(u.input_job(JobType.factor_ingest, det.value), det.value, live, [])


@pytest.fixture
def universe(db) -> dict[D, dict[int, tuple[u.FactorSpec, dict[str, Any]]]]:  # type: ignore[no-untyped-def]
    """Two units with entries of five types, every type recalculated and aggregated."""
    rng = random.Random(7)
    clear_caches()
    u.setup_universe(rng, 40)
    live: dict[D, dict[int, tuple[u.FactorSpec, dict[str, Any]]]] = {}
    for i, spec in enumerate(u.factor_universe()):
        live.setdefault(D(spec.det), {})[i] = (spec, u.factor_values(spec, rng))
    for det in u.DETS:
        u.write_factors(u.input_job(JobType.factor_ingest, det.value), det.value, live[det], [])
        _recalculate(det, JobType.emission_recalc, aggregate=True)
    return live


def test_folded_and_unfolded_slices_give_the_rows_totals(universe) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    dets = {d.value for d in u.DETS}
    _check(vouched=dets, not_vouched=set())  # every slice folded
    # A revised `it` factor, recalculated incrementally, its aggregation not run yet: the
    # refresh's case in every one-factor pipeline (a delta job to add to the folded sums).
    _revise(D.it, universe[D.it], rng)
    _recalculate(D.it, JobType.factor_ingest, aggregate=False)
    with session_scope() as s:
        scope = s.execute(text(
            "SELECT meta -> 'config' -> 'scope' FROM data_ingestion_jobs"
            " WHERE job_type = 'emission_recalc' ORDER BY id DESC LIMIT 1")).scalar_one()
    assert scope["incremental"] is True, scope
    _check(vouched=dets, not_vouched=set())
    # A second delta on top, and a full job of another type, neither folded: a full job's
    # partials replace the folded sums of its slice.
    _revise(D.it, universe[D.it], rng)
    _recalculate(D.it, JobType.factor_ingest, aggregate=False)
    _revise(D.member, universe[D.member], rng)
    _recalculate(D.member, JobType.emission_recalc, aggregate=False)
    _check(vouched=dets, not_vouched=set())
    # Folded at last: the same totals.
    with session_scope() as s:
        aggregate_module_year(s, MODULE_OF[D.it].value, u.YEAR)
    _check(vouched=dets, not_vouched=set())


def _replace_one_entry(det: D) -> None:
    """Delete one entry of ``det`` (its rows go with it) under a finished data entry upload:
    the slice's folded sums no longer describe its rows."""
    with session_scope() as s:
        s.execute(text("DELETE FROM data_entries WHERE id = (SELECT min(id) FROM data_entries"
                       " WHERE data_entry_type_id = :d)"), {"d": det.value})
    u.input_job(JobType.csv_ingest, det.value)


def test_replaced_entries_and_a_slice_being_rewritten(universe) -> None:  # type: ignore[no-untyped-def]
    # `train`: entries replaced since its last recalculation: read from its rows.
    _replace_one_entry(D.train)
    # `member`: the same, and a recalculation of it running (the fold would wait for it):
    # read from its rows.
    _replace_one_entry(D.member)
    with session_scope() as s:
        jobs.request_recalc(s, pipeline_id=None, module_type_id=MODULE_OF[D.member].value,
                            data_entry_type_id=D.member.value, year=u.YEAR, created_by="test")
    # `plane`: a recalculation requested but nothing of it finished: what the finished jobs
    # wrote is still vouched for (its chunks' rows count once it has finished; until then
    # the facility types that read it are stale, services/recalc/inputs_read.py).
    with session_scope() as s:
        jobs.request_recalc(s, pipeline_id=None, module_type_id=MODULE_OF[D.plane].value,
                            data_entry_type_id=D.plane.value, year=u.YEAR, created_by="test")
    _check(vouched={D.it.value, D.plane.value, D.building_embodied_energy.value},
           not_vouched={D.train.value, D.member.value})


def test_an_aggregation_folding_between_plan_and_read_sends_the_slice_to_its_rows(
        universe, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The read takes no lock: an aggregation may fold a slice after ``read_sums`` planned
    it. Its version moved, so its planned partials (now dropped) are not trusted."""
    rng = random.Random(17)
    _revise(D.it, universe[D.it], rng)
    _recalculate(D.it, JobType.factor_ingest, aggregate=False)
    real_plans = slice_sums.fold_plans
    folded: list[int] = []

    def plan_then_fold(session: Any, year: int, dets: Any) -> Any:
        plans = real_plans(session, year, dets)
        if not folded:  # the read's plan (not the aggregation's own): fold `it` now
            folded.append(1)
            with session_scope() as other:
                aggregate_module_year(other, MODULE_OF[D.it].value, year)
        return plans

    monkeypatch.setattr(slice_sums, "fold_plans", plan_then_fold)
    with session_scope() as s:
        got = facilities._facility_emissions(s, UNITS, u.YEAR)
        s.rollback()
    assert folded  # the fold did land between the plan and the read
    assert got == _from_rows()
    with session_scope() as s:
        read = slice_sums_read.read_sums(s, u.YEAR, OTHERS, _crms())
    assert read is not None
    assert D.it.value in read.vouched  # planned after that fold, it is vouched again
    monkeypatch.setattr(slice_sums, "fold_plans", real_plans)


def test_the_moved_slices_are_the_ones_left_out(universe, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:  # type: ignore[no-untyped-def]
    """A full job's partials replace its slice's folded sums: once an aggregation has folded
    it (and dropped its partials), the planned read would find neither, and sum nothing."""
    rng = random.Random(19)
    _revise(D.it, universe[D.it], rng)
    _recalculate(D.it, JobType.factor_ingest, aggregate=False)
    _recalculate(D.member, JobType.emission_recalc, aggregate=False)
    real_plans = slice_sums.fold_plans

    folding: list[int] = []

    def plan_then_fold(session: Any, year: int, dets: Any) -> Any:
        plans = real_plans(session, year, dets)
        if not folding:  # the read's plan (not the aggregations' own): fold both now
            folding.append(1)
            for d in (D.it, D.member):
                with session_scope() as other:
                    aggregate_module_year(other, MODULE_OF[d].value, year)
            folding.clear()
        return plans

    monkeypatch.setattr(slice_sums, "fold_plans", plan_then_fold)
    with session_scope() as s:
        read = slice_sums_read.read_sums(s, u.YEAR, OTHERS, _crms())
        got = facilities._facility_emissions(s, UNITS, u.YEAR)
    assert read is not None
    assert not {D.it.value, D.member.value} & read.vouched
    assert {D.plane.value, D.train.value} <= read.vouched
    assert got == _from_rows()
