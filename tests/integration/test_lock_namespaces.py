"""Every PostgreSQL advisory lock namespace is distinct, and a running beat (which holds the
deployment's leader lock for as long as it runs) never blocks the pipeline.

An operator following docs/operating.md started `carbon beat` beside the workers and seeded
a new database: the first recalculation of every type froze for good. Its closing step waited
on `pg_advisory_xact_lock(1241, 0)`, the lock that serialises creating an emission
partition, which beat held as its leader lock: both used namespace 1241, key 0."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from carbon_domain.db import leader, locks
from carbon_domain.db.emission_partitions import leaf_table
from carbon_domain.db.session import session_scope
from carbon_domain.settings import get_settings
from carbon_tasks import operations as ops
from tests.console.support import E_HEADER, ENTRY, EQUIPMENT, F_HEADER, FACTORS, IT, UNITS_CSV
from tests.console.support import wait_pipeline as wait

# A year no other test writes: its emission partition does not exist yet.
YEAR = 2031


def _namespaces() -> dict[str, int]:
    found = {name: value for name, value in vars(locks).items()
             if name.isupper() and isinstance(value, int) and 1000 <= value < 2000}
    found["leader.BEAT_LEADER"] = leader.BEAT_LEADER
    return found


def test_every_advisory_lock_namespace_is_its_own() -> None:
    spaces = _namespaces()
    # EMISSION_PARTITIONS is the partitions' own PARTITION_DDL_LOCK: one lock, two names.
    assert spaces.pop("EMISSION_PARTITIONS") == spaces["PARTITION_DDL_LOCK"]
    assert len(spaces) >= 6, spaces
    assert len(set(spaces.values())) == len(spaces), spaces


@pytest.mark.integration
def test_a_running_beat_does_not_block_a_first_recalculation(db: str, worker: object) -> None:
    beat = leader.LeaderLock(get_settings().database_url, "carbon-beat test")
    assert beat.try_acquire()
    try:
        with session_scope() as s:
            assert s.execute(text("SELECT to_regclass(:t)"),
                             {"t": leaf_table(IT, YEAR)}).scalar() is None
        for kind, body, extra in (
                ("units", UNITS_CSV, {}),
                ("factors", F_HEADER + FACTORS[IT], {"module": EQUIPMENT, "det": IT}),
                ("data-entries", E_HEADER + "".join(
                    f"U{'AB'[i % 2]},E{i},{ENTRY[IT]},{10 + i % 5},20\n" for i in range(30)),
                 {"module": EQUIPMENT, "det": IT})):
            acc = ops.start_upload(kind, body.encode(), year=YEAR, created_by="t", **extra)
            assert wait(acc.pipeline_id, timeout=30) == "SUCCESS", kind
        with session_scope() as s:
            assert s.execute(text(f"SELECT count(*) FROM {leaf_table(IT, YEAR)}")).scalar() == 30
    finally:
        beat.release()
