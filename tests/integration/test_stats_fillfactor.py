"""Stamping the statistics of many reports (every aggregation does, changed or not) does not
grow their tables: migration 0016 leaves room on the pages, so a stamp is a heap-only update
and the page's dead versions are pruned instead of piling up until a VACUUM."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.session import session_scope

pytestmark = pytest.mark.integration

REPORTS = 300
STATS = {"scope1": 1.5, "scope2": 2.5, "scope3": 3.5, "total": 7.5, "entry_count": 12,
         "missing_factors": 0, "computed_at": "2026-12-07T05:00:00.000000Z",
         "by_emission_type": {str(90000 + i): 0.123456 * i for i in range(40)}}


def _size(table: str) -> int:
    with session_scope() as s:
        return int(s.execute(text("SELECT pg_relation_size(CAST(:t AS regclass))"),
                             {"t": table}).scalar_one())


def test_stats_tables_leave_room_for_stamps(db: str) -> None:
    with session_scope() as s:
        options = dict(s.execute(text(
            "SELECT relname, array_to_string(reloptions, ',') FROM pg_class"
            " WHERE relname IN ('carbon_reports', 'carbon_report_modules')")).all())
    assert options == {"carbon_reports": "fillfactor=40",
                       "carbon_report_modules": "fillfactor=40"}


def test_stamping_reports_again_and_again_keeps_their_table_size(db: str) -> None:
    with session_scope() as s:
        for u in range(1, REPORTS + 1):
            s.execute(text("INSERT INTO units (id, institutional_code, institutional_id, name,"
                           " level, is_active) VALUES (:u, :c, :i, 'Lab', 4, true)"),
                      {"u": u, "c": f"L{u}", "i": str(u)})
        s.execute(text(
            "INSERT INTO carbon_reports (id, unit_id, year, stats) SELECT u, u, 2025,"
            " CAST(:st AS jsonb) FROM generate_series(1, :n) AS u"),
            {"st": json.dumps(STATS), "n": REPORTS})
    ids = list(range(1, REPORTS + 1))
    before = _size("carbon_reports")
    for k in range(16):  # two full runs' worth: 8 module aggregations each
        with session_scope() as s:
            dialect_of(s).stamp_computed_at(s, "carbon_reports", ids,
                                            f"2026-12-07T05:{k:02d}:00.000000Z")
    with session_scope() as s:
        stamped = s.execute(text("SELECT DISTINCT stats ->> 'computed_at' FROM carbon_reports")
                            ).scalars().all()
    assert stamped == ["2026-12-07T05:15:00.000000Z"]  # every report carries the last stamp
    assert _size("carbon_reports") == before
