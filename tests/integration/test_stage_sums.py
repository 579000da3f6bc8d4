"""A full recalculation's slice sums come from its stage one of two ways (services/recalc/
recalc_chunk.py): a small slice's stage has its entry index from the start and each chunk
sums its own rows through it; a big slice's chunks sum nothing and its last chunk sums the
whole stage. Both must give the rows the engine gives and the sums the rows give, and the
same module statistics; `CARBON_STAGE_INDEXED_MAX_ROWS` picks the way (0: never indexed)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.slices import clear_caches
from carbon_domain.services.recalc import chunk_sums
from carbon_domain.services.recalc.chunk_sizing import expected_rows
from carbon_domain.settings import get_settings
from tests.conftest import truncate_all
from tests.integration import incremental_support as u

pytestmark = pytest.mark.integration

ENTRIES = 130  # three chunks of the tests' 50 entries per slice


def _universe(seed: int) -> None:
    rng = random.Random(seed)
    truncate_all()
    clear_caches()
    u.setup_universe(rng, ENTRIES)
    live: dict[int, dict[int, tuple[Any, ...]]] = {}
    for i, spec in enumerate(u.factor_universe()):
        if rng.random() < 0.8:
            live.setdefault(spec.det, {})[i] = (spec, u.factor_values(spec, rng))
    for det in u.DETS:
        u.write_factors(u.input_job(JobType.factor_ingest, int(det)), int(det),
                        live.get(det, {}), [])


def _config(job_id: int) -> dict[str, Any]:
    with session_scope() as s:
        meta = s.execute(text("SELECT meta FROM data_ingestion_jobs WHERE id = :j"),
                         {"j": job_id}).scalar_one()
    return dict(meta["config"])


def _partials(job_id: int) -> list[tuple[int, list[Any]]]:
    """Each chunk's recorded cells, read once every chunk is in (the fold consumes them)."""
    with session_scope() as s:
        return [(int(n), p["sums"]) for n, p in s.execute(text(
            "SELECT chunk_no, partials FROM recalc_chunks WHERE job_id = :j ORDER BY chunk_no"),
            {"j": job_id})]


def _whole_stage_cells(det: int, stage: str) -> dict[tuple[int, int], tuple[Decimal, int]]:
    """The cells one GROUP BY over the whole stage gives (what the last chunk of a big
    slice records)."""
    cells = chunk_sums.cells_sql(f"{stage} e ON e.data_entry_id = de.id")
    with session_scope() as s:
        return {(int(c), int(e)): (Decimal(k), int(n)) for c, e, k, n in s.execute(text(
            f"SELECT crm, et, kg, n FROM ({cells}) t"), {"d": int(det), "y": u.YEAR})}


def _summed(partials: list[tuple[int, list[Any]]]) -> dict[tuple[int, int], tuple[Decimal, int]]:
    out: dict[tuple[int, int], tuple[Decimal, int]] = {}
    for _, cells in partials:
        for c, e, k, n in cells:
            kg, count = out.get((int(c), int(e)), (Decimal(0), 0))
            out[(int(c), int(e))] = (kg + Decimal(k), count + int(n))
    return out


def _recalculate_all(monkeypatch: pytest.MonkeyPatch, max_rows: int
                     ) -> dict[int, tuple[list[Any], list[Any]]]:
    monkeypatch.setattr(get_settings(), "stage_indexed_max_rows", max_rows)
    for det in u.DETS:
        seen: list[Any] = []

        def look(job_id: int, det: int = det, seen: list[Any] = seen) -> None:
            config = _config(job_id)
            seen.append((config, _partials(job_id), _whole_stage_cells(det, config["stage"])))

        u.recalculate(det, JobType.emission_recalc, after_chunks=look)
        ((config, partials, whole),) = seen
        # The chunks' cells, summed, are exactly the whole stage's (kg as exact decimals).
        assert _summed(partials) == whole, D(det).name
        assert config["stage"], D(det).name
        assert config.get("stage_indexed", False) is (max_rows > 0), D(det).name
        assert len(partials) >= 3, D(det).name
        with_cells = [n for n, cells in partials if cells]
        # Indexed: every chunk carries its own cells; otherwise only the last one to finish
        # (in-process: the last chunk number) carries the whole slice's.
        assert with_cells == ([n for n, _ in partials] if max_rows > 0
                              else [partials[-1][0]]), D(det).name
        assert u.rows_of(det) == u.expected_rows(det), D(det).name
        u.folded_totals_match_rows(det)
    # Statistics once every type is in: a module's combine several types.
    return {int(det): (u.rows_of(det), u.stats_of(det)) for det in u.DETS}


@pytest.mark.parametrize("seed", [3, 11])
def test_indexed_and_unindexed_stages_give_the_same_rows_and_stats(
        db: str, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    _universe(seed)
    unindexed = _recalculate_all(monkeypatch, 0)
    indexed = _recalculate_all(monkeypatch, 10_000_000)
    for det in u.DETS:
        rows_a, stats_a = unindexed[int(det)]
        rows_b, stats_b = indexed[int(det)]
        assert [r[:3] + r[4:] for r in rows_a] == [r[:3] + r[4:] for r in rows_b], D(det).name
        assert [r[3] for r in rows_a] == pytest.approx([r[3] for r in rows_b], rel=0, abs=0)
        assert stats_a == stats_b, D(det).name


def test_the_expected_rows_pick_the_way(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first run of a slice does not know its rows per entry and counts the heaviest
    types' 24; the next run counts the last run's."""
    _universe(5)
    # 130 entries x 24 = 3,120 expected rows on the first run; `it` writes 1 row per entry.
    monkeypatch.setattr(get_settings(), "stage_indexed_max_rows", 1_000)
    seen: list[dict[str, Any]] = []
    u.recalculate(D.it, JobType.emission_recalc, after_chunks=lambda j: seen.append(_config(j)))
    u.recalculate(D.it, JobType.emission_recalc, after_chunks=lambda j: seen.append(_config(j)))
    assert [c.get("stage_indexed", False) for c in seen] == [False, True]
    u.folded_totals_match_rows(D.it)


def test_a_slice_whose_last_run_wrote_no_rows_is_not_taken_for_a_small_one() -> None:
    """Its factors were missing: the next run may write the heaviest types' 24 per entry."""
    assert expected_rows(1_000, 0.0) == expected_rows(1_000, None) == 24_000
    assert expected_rows(1_000, 1.0) == 1_000
    assert expected_rows(1_000, 2.5) == 2_500


def test_the_whole_stage_sums_hand_the_chunk_its_sort_setting_back(db: str) -> None:
    """``record_stage_sums`` hashes its GROUP BY (sorting is turned off for that statement);
    the rest of the chunk's transaction plans as before. (The cells it records are checked
    against the rows above, by the unindexed runs.)"""
    with session_scope() as s:
        s.execute(text("CREATE TEMP TABLE stage_probe (LIKE data_entry_emissions)"))
        before = s.execute(text("SHOW enable_sort")).scalar_one()
        chunk_sums.record_stage_sums(s, 0, 0, int(D.it), 2025, "stage_probe")
        assert s.execute(text("SHOW enable_sort")).scalar_one() == before == "on"
        s.rollback()


def test_a_large_stage_is_analyzed_before_its_sums(db: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """From ANALYZE_STAGE_FROM_ROWS rows the stage gets statistics before the whole-stage
    GROUP BY (so the join hashes the entries, not the stage); the slice swapped in keeps
    them, and its rows and sums are the ones the engine and the rows give."""
    _universe(7)
    monkeypatch.setattr(get_settings(), "stage_indexed_max_rows", 0)
    monkeypatch.setattr(chunk_sums, "ANALYZE_STAGE_FROM_ROWS", 1)
    u.recalculate(D.member, JobType.emission_recalc)
    assert u.rows_of(D.member) == u.expected_rows(D.member)
    u.folded_totals_match_rows(D.member)
    with session_scope() as s:
        analyzed = s.execute(text(
            "SELECT count(*) FROM pg_stats WHERE tablename = :t AND attname = 'data_entry_id'"),
            {"t": f"data_entry_emissions_t{int(D.member)}_y{u.YEAR}"}).scalar_one()
    assert analyzed == 1
