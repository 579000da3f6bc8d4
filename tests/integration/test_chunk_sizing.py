"""Chunks sized by emission rows (services/recalc/chunk_sizing.py): a slice of one row per
entry (`it`) or three (`member`, this universe's headcount factors) is cut into fewer,
larger chunks once its rows per entry are known, and writes exactly the rows and module
statistics that chunks of the configured size write (and that the engine computes over the
whole slice)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import text

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.slices import clear_caches
from carbon_domain.settings import get_settings
from tests.conftest import truncate_all
from tests.integration import incremental_support as u

pytestmark = pytest.mark.integration

ENTRIES = 400  # 8 chunks of the suite's 50 entries


def _last_job_chunks(det: int) -> tuple[int, int]:
    """(chunks, largest chunk's entries) of the slice's latest recalculation."""
    with session_scope() as s:
        return tuple(s.execute(text(
            "SELECT count(*), max(c.planned_entries) FROM recalc_chunks c WHERE c.job_id ="
            " (SELECT max(id) FROM data_ingestion_jobs WHERE job_type = 'emission_recalc'"
            " AND data_entry_type_id = :d)"), {"d": int(det)}).one())  # type: ignore[return-value]


def test_a_big_slice_gets_fewer_chunks_and_the_same_rows_and_stats(
        db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().chunk_size == 50
    rng = random.Random(23)
    truncate_all()
    clear_caches()
    u.setup_universe(rng, ENTRIES)
    live: dict[int, dict[int, tuple[u.FactorSpec, dict[str, Any]]]] = {}
    for i, spec in enumerate(u.factor_universe()):  # every factor: rows for every entry
        live.setdefault(spec.det, {})[i] = (spec, u.factor_values(spec, rng))
    for det in (D.it, D.member):
        u.write_factors(u.input_job(JobType.factor_ingest, int(det)), int(det),
                        live[det], [])

    base: dict[int, tuple[Any, Any, tuple[int, int]]] = {}
    with monkeypatch.context() as m:
        m.setattr(get_settings(), "chunk_max_growth", 1.0)  # chunks of the configured size
        for det in (D.it, D.member):
            u.recalculate(det, JobType.emission_recalc)
            base[det] = (u.rows_of(det), u.stats_of(det), _last_job_chunks(det))
    assert base[D.it][2] == (8, 50)
    assert base[D.member][2] == (8, 50)
    assert len(base[D.member][0]) == 3 * ENTRIES

    monkeypatch.setattr(get_settings(), "chunk_max_growth", 4.0)  # the default outside tests
    for det in (D.it, D.member):
        u.recalculate(det, JobType.emission_recalc)  # knows the rows per entry now
    # `it`: 303 rows for 400 entries (some classes have no factor), (24 + 7) / (0.76 + 7)
    # = 3.996 × 50 = 199 entries per chunk: 3 chunks, evened to 4 of 100 (recalc_plan).
    assert len(base[D.it][0]) == 303
    assert _last_job_chunks(D.it) == (4, 100)
    # `member`: three rows per entry, 3.1 × 50 = 155 entries per chunk, also 4 of 100.
    assert _last_job_chunks(D.member) == (4, 100)
    for det in (D.it, D.member):
        rows, stats, _ = base[det]
        assert u.rows_of(det) == rows
        assert u.stats_of(det) == stats
        assert rows == u.expected_rows(det)
        u.folded_totals_match_rows(det)
