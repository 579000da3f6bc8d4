"""Incremental recalculation (services/recalc/affected.py) writes exactly what a full recalculation
writes — rows and module statistics — over random factor revisions: changed values, added,
retired and revived factors, kind-only fallbacks (`it`), plane bands per cabin, train
countries with the RoW fallback, embodied energy per building with ``default``, headcount;
and over random reference revisions (stations, building rooms, exchange rates changed,
retired and revived).
The slice sums folded from the chunks' partial sums (services/recalc/slice_sums.py) are checked
against the aggregation's full query after every step."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.slices import clear_caches
from tests.conftest import truncate_all
from tests.integration import incremental_reference_support as r
from tests.integration import incremental_support as u

pytestmark = pytest.mark.integration

# A revision: for each factor of the universe, one of keep / change / retire / add-or-revive.
ACTIONS = ("keep", "keep", "change", "retire", "live")


def _apply_revision(rng: random.Random, live: dict[int, dict[int, tuple]],
                    universe: list[u.FactorSpec], actions: list[str]) -> None:
    job_of: dict[int, int] = {}
    retire: dict[int, list[u.FactorSpec]] = {}
    for i, (spec, action) in enumerate(zip(universe, actions, strict=True)):
        mine = live.setdefault(spec.det, {})
        if action == "change" and i in mine:
            mine[i] = (spec, u.factor_values(spec, rng))
        elif action == "retire" and i in mine:
            del mine[i]
            retire.setdefault(spec.det, []).append(spec)
        elif action == "live" and i not in mine:
            mine[i] = (spec, u.factor_values(spec, rng))
    for det in u.DETS:
        job_of[det] = u.input_job(JobType.factor_ingest, int(det))
        u.write_factors(job_of[det], int(det), live.get(det, {}), retire.get(det, []))


def _initial(rng: random.Random, universe: list[u.FactorSpec], entries: int
             ) -> dict[int, dict[int, tuple]]:
    truncate_all()
    clear_caches()
    u.setup_universe(rng, entries)
    live: dict[int, dict[int, tuple]] = {}
    for i, spec in enumerate(universe):
        if rng.random() < 0.7:
            live.setdefault(spec.det, {})[i] = (spec, u.factor_values(spec, rng))
    for det in u.DETS:
        u.write_factors(u.input_job(JobType.factor_ingest, int(det)), int(det),
                        live.get(det, {}), [])
        u.recalculate(det, JobType.emission_recalc)  # the base: a full recalculation
    return live


UNIVERSE = u.factor_universe()


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000),
       revisions=st.lists(st.lists(st.sampled_from(ACTIONS), min_size=len(UNIVERSE),
                                   max_size=len(UNIVERSE)), min_size=1, max_size=3))
def test_incremental_equals_full_over_random_revisions(db, seed, revisions) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    live = _initial(rng, UNIVERSE, entries=30)
    for actions in revisions:
        _apply_revision(rng, live, UNIVERSE, actions)
        for det in u.DETS:
            scope = u.recalculate(det, JobType.factor_ingest)
            assert u.rows_of(det) == u.expected_rows(det), (D(det).name, scope)
            u.folded_totals_match_rows(det)
    incremental_stats = {det: u.stats_of(det) for det in u.DETS}
    incremental_rows = {det: u.rows_of(det) for det in u.DETS}
    for det in u.DETS:
        u.recalculate(det, JobType.emission_recalc)
    for det in u.DETS:
        assert u.rows_of(det) == incremental_rows[det], D(det).name
        assert u.stats_of(det) == incremental_stats[det], D(det).name
        u.folded_totals_match_rows(det)


def test_one_changed_factor_recalculates_only_its_entries(db) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    it_specs = [s for s in UNIVERSE if s.det == D.it]
    truncate_all()
    clear_caches()
    u.setup_universe(rng, 60)
    live = {i: (s, u.factor_values(s, rng)) for i, s in enumerate(it_specs)}
    u.write_factors(u.input_job(JobType.factor_ingest, int(D.it)), int(D.it), live, [])
    assert u.recalculate(D.it, JobType.emission_recalc)["incremental"] is False
    before = u.rows_of(D.it)
    # The same file again: nothing changed, nothing to recalculate.
    u.write_factors(u.input_job(JobType.factor_ingest, int(D.it)), int(D.it), live, [])
    assert u.recalculate(D.it, JobType.factor_ingest)["entries"] == 0
    # One factor's EF changes: only the entries whose rows name it are rewritten.
    spec, values = live[4]
    live[4] = (spec, {**values, "ef_kg_co2eq_per_kwh": values["ef_kg_co2eq_per_kwh"] * 2})
    u.write_factors(u.input_job(JobType.factor_ingest, int(D.it)), int(D.it), live, [])
    scope = u.recalculate(D.it, JobType.factor_ingest)
    after = u.rows_of(D.it)
    changed_entries = {r[0] for r in before if r[5] is not None} - {
        r[0] for r in before if r in after}
    assert scope["incremental"] is True
    assert scope["entries"] == len(changed_entries) > 0
    assert after == u.expected_rows(D.it)


# -- reference changes: stations, building rooms, exchange rates ------------------------------
REF_ACTIONS = ("keep", "keep", "change", "retire", "live")


def _apply_reference_revision(rng: random.Random, live: dict[int, Any],
                              actions: list[str]) -> None:
    """One replace upload per kind, holding the kind's live rows after ``actions``."""
    for i, ((kind, key), action) in enumerate(zip(r.UNIVERSE, actions, strict=True)):
        if action in ("change", "live") and (action == "live") != (i in live):
            live[i] = r.reference_row(kind, key, rng)
        elif action == "retire":
            live.pop(i, None)
    for kind in ("stations", "building-rooms", "exchange-rates"):
        r.write_references(kind, [row for i, row in live.items() if r.UNIVERSE[i][0] == kind])


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000),
       revisions=st.lists(st.lists(st.sampled_from(REF_ACTIONS), min_size=len(r.UNIVERSE),
                                   max_size=len(r.UNIVERSE)), min_size=1, max_size=3))
def test_incremental_equals_full_over_reference_changes(db, seed, revisions) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    truncate_all()
    clear_caches()
    r.setup(rng, 30)
    live: dict[int, Any] = {i: r.reference_row(kind, key, rng)
                            for i, (kind, key) in enumerate(r.UNIVERSE) if rng.random() < 0.7}
    _apply_reference_revision(rng, live, ["keep"] * len(r.UNIVERSE))
    for det in r.DETS:
        u.recalculate(det, JobType.emission_recalc)  # the base: a full recalculation
    for actions in revisions:
        _apply_reference_revision(rng, live, actions)
        for det in r.DETS:
            scope = u.recalculate(det, JobType.factor_ingest)
            assert u.rows_of(det) == u.expected_rows(det), (D(det).name, scope)
            u.folded_totals_match_rows(det)
    incremental = {det: (u.rows_of(det), u.stats_of(det)) for det in r.DETS}
    for det in r.DETS:
        u.recalculate(det, JobType.emission_recalc)
        assert (u.rows_of(det), u.stats_of(det)) == incremental[det], D(det).name


def test_one_changed_station_recalculates_only_its_entries(db) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(3)
    truncate_all()
    clear_caches()
    r.setup(rng, 40)
    rows = {i: r.reference_row(kind, key, rng) for i, (kind, key) in enumerate(r.UNIVERSE)
            if kind == "stations"}
    r.write_references("stations", list(rows.values()))
    assert u.recalculate(D.train, JobType.emission_recalc)["incremental"] is False
    # The same stations again: nothing changed, nothing to recalculate.
    r.write_references("stations", list(rows.values()))
    assert u.recalculate(D.train, JobType.factor_ingest)["entries"] == 0
    # Milano moves: only the trips from or to that name are rewritten.
    milano = next(i for i, row in rows.items() if row.name == "Milano")
    rows[milano] = r.reference_row("stations", r.UNIVERSE[milano][1], rng)
    r.write_references("stations", list(rows.values()))
    scope = u.recalculate(D.train, JobType.factor_ingest)
    with session_scope() as s:
        touched = s.execute(text(
            "SELECT count(*) FROM data_entries WHERE data_entry_type_id = :d"
            " AND (data->>'origin_name' = 'Milano' OR data->>'destination_name' = 'Milano')"),
            {"d": int(D.train)}).scalar_one()
    assert scope["incremental"] is True and scope["entries"] == touched > 0, scope
    assert "1 stations changed" in scope["reason"]
    assert u.rows_of(D.train) == u.expected_rows(D.train)
