"""Stamping the statistics of every report (every aggregation does, changed or not) keeps
each row on its page: migration 0016 leaves room there, so a stamp is a heap-only update
that neither moves the row nor adds index entries, and the page's dead versions can be
pruned in place instead of piling up on new pages until a VACUUM.

What is asserted is what the fill factor guarantees: one stamp of every report fits on the
rows' own pages. Later stamps fit only once the earlier versions are pruned, and pruning
waits for every older transaction of the whole cluster to end (one left open in another
database held it: 16 stamps grew the table 1.2 → 4.9 MB in a CI run where the tests run
side by side; alone, 16 stamps left it unchanged)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from carbon_domain.db import migrate
from carbon_domain.db.dialect import dialect_of

pytestmark = pytest.mark.integration

REPORTS = 300
STATS = {"scope1": 1.5, "scope2": 2.5, "scope3": 3.5, "total": 7.5, "entry_count": 12,
         "missing_factors": 0, "computed_at": "2026-12-07T05:00:00.000000Z",
         "by_emission_type": {str(90000 + i): 0.123456 * i for i in range(40)}}


@pytest.fixture
def session(pg_url: str) -> Iterator[Session]:
    """A session on a database migrated to head that nothing else connects to."""
    migrate.upgrade(pg_url)
    engine = create_engine(pg_url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def _size(s: Session, table: str) -> int:
    return int(s.execute(text("SELECT pg_relation_size(CAST(:t AS regclass))"),
                         {"t": table}).scalar_one())


def test_stats_tables_leave_room_for_stamps(session: Session) -> None:
    options = dict(session.execute(text(
        "SELECT relname, array_to_string(reloptions, ',') FROM pg_class"
        " WHERE relname IN ('carbon_reports', 'carbon_report_modules')")).all())
    assert options == {"carbon_reports": "fillfactor=40",
                       "carbon_report_modules": "fillfactor=40"}


def test_a_stamp_of_every_report_stays_on_its_page(session: Session) -> None:
    s = session
    for u in range(1, REPORTS + 1):
        s.execute(text("INSERT INTO units (id, institutional_code, institutional_id, name,"
                       " level, is_active) VALUES (:u, :c, :i, 'Lab', 4, true)"),
                  {"u": u, "c": f"L{u}", "i": str(u)})
    s.execute(text(
        "INSERT INTO carbon_reports (id, unit_id, year, stats) SELECT u, u, 2025,"
        " CAST(:st AS jsonb) FROM generate_series(1, :n) AS u"),
        {"st": json.dumps(STATS), "n": REPORTS})
    s.commit()
    before = _size(s, "carbon_reports")
    s.commit()
    at = datetime(2026, 12, 7, 5, 15, tzinfo=UTC)
    dialect_of(s).stamp_computed_at(s, "carbon_reports", list(range(1, REPORTS + 1)), at)
    # This transaction's own counters: every stamp was a heap-only update.
    hot = s.execute(text("SELECT pg_stat_get_xact_tuples_hot_updated("
                         "CAST('carbon_reports' AS regclass))")).scalar_one()
    s.commit()
    assert hot == REPORTS
    stamped = s.execute(text("SELECT DISTINCT stats_computed_at FROM carbon_reports")
                        ).scalars().all()
    assert stamped == [at]  # every report carries the stamp
    assert _size(s, "carbon_reports") == before
