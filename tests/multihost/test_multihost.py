"""Workers on several hosts, tested on this machine with network namespaces (conftest.py):
a seeded year (100,000 entries) recalculated by three worker hosts, one host's link cut while
it holds a chunk, and a host running another release visible in the worker overview.

The seed is loaded by a plain worker in the root namespace before the hosts start, and its
rows and statistics (checked against the engine's own computation) are the reference every
scenario must reproduce exactly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.fault import harness
from tests.multihost import support
from tests.multihost.conftest import (
    CHUNK_SIZE,
    OLDER_RELEASE,
    RESTORE_SECONDS,
    VISIBILITY_TIMEOUT,
    Cluster,
)

pytestmark = [pytest.mark.multihost, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def reference(netns_ready: None, pg_database: str,
              tmp_path_factory: pytest.TempPathFactory) -> support.Baseline:
    """The seeded year and its reference results, made before the hosts exist."""
    from tests.conftest import truncate_all
    from tests.fault.conftest import _purge_broker

    truncate_all()
    _purge_broker()
    logs = tmp_path_factory.mktemp("seed")
    seeder = harness.Worker("seeder", harness.child_env(CARBON_CHUNK_SIZE=str(CHUNK_SIZE)),
                            logs, concurrency=2).start()
    try:
        seeder.wait_ready(90)
        seconds = support.seed(logs / "files")
    finally:
        seeder.kill()
        harness.terminate_other_backends()
    base = support.baseline()
    assert base.entries >= 100_000
    n, kg = support.engine_totals()
    assert (len(base.rows), round(sum(r[3] for r in base.rows), 3)) == (n, round(kg, 3))
    print(f"seeded {base.entries} entries, {n} rows in {seconds:.1f} s")
    return base


@pytest.fixture(scope="module")
def hosts(reference: support.Baseline, cluster: Cluster) -> Cluster:
    return cluster


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[Any]:
    def add(**values: Any) -> None:
        request.node.user_properties.extend(values.items())
        for k, v in values.items():
            print(f"{k}: {v}")
    yield add


def test_full_recalculation_spreads_over_every_host(hosts: Cluster, reference, record
                                                      ) -> None:  # type: ignore[no-untyped-def]
    since = support.forget_stats()
    t0 = time.monotonic()
    pids = support.trigger_all()
    statuses = support.wait_all(pids, timeout=600)
    seconds = time.monotonic() - t0
    assert statuses == ["SUCCESS"] * len(pids), hosts.logs()
    chunks = support.chunks_of(pids)
    per_host = support.per_host_chunks(hosts, chunks)
    counts = {h: len(t) for h, t in per_host.items()}
    assert all(counts[w.host.hostname] > 0 for w in hosts.workers), counts
    ran = [t for ts in per_host.values() for t in ts]
    # Every chunk ran to success once, on one host; none was lost.
    assert sorted(ran) == sorted(c.task_id for c in chunks), counts
    out = support.assert_exact(reference, since)
    support.assert_counted_once(pids, reference.entries)
    record(hosts=len(hosts.workers), chunks=len(chunks), chunks_per_host=counts,
           entries=reference.entries, rows=out["rows"], seconds=round(seconds, 1))


def _blocked_chunk(pids: list[str], entry_id: int) -> support.Chunk:
    ((det,),) = harness.sql("SELECT data_entry_type_id FROM data_entries WHERE id = :i",
                            i=entry_id)
    mine = [c for c in support.chunks_of(pids) if c.det == det]
    found = [c for c in mine if c.lo_id <= entry_id <= c.hi_id]
    assert len(found) == 1, (entry_id, det, mine, harness.sql(
        "SELECT application_name, wait_event_type, left(query, 120) FROM pg_stat_activity"
        " WHERE datname = current_database()"))
    return found[0]


def _writer_host(lock: harness.EntryLock, timeout: float) -> str:
    """The application name (= hostname) of the host whose chunk waits on our row lock.
    (Blocked by that lock itself: concurrent COPYs also wait on each other's relation
    extension locks.)"""
    def find() -> str | None:
        rows = harness.sql(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
            " AND :p = ANY(pg_blocking_pids(pid))", p=lock.pid)
        names = [r[0] for r in rows if str(r[0]).startswith("mh-host")]
        return names[0] if names else None
    return harness.wait_for(find, timeout, "a host's chunk blocked mid-write", interval=0.1)


def test_cut_host_work_is_redelivered_and_the_host_rejoins(hosts: Cluster, reference, record
                                                           ) -> None:  # type: ignore[no-untyped-def]
    from carbon_tasks.app import app

    since = support.forget_stats()
    # An entry in the middle of the year's largest slice, second chunk: whichever host takes
    # that chunk writes its rows, then waits on our row lock, its transaction open.
    ((det, n),) = harness.sql(
        "SELECT data_entry_type_id, count(*) FROM data_entries WHERE year = :y"
        " GROUP BY 1 ORDER BY 2 DESC LIMIT 1", y=support.YEAR)
    assert n > 2 * CHUNK_SIZE
    ((entry_id,),) = harness.sql(
        "SELECT id FROM data_entries WHERE data_entry_type_id = :d AND year = :y ORDER BY id"
        " OFFSET :o LIMIT 1", d=det, y=support.YEAR, o=CHUNK_SIZE + CHUNK_SIZE // 2)
    lock = harness.EntryLock(int(entry_id))
    with lock:
        t0 = time.monotonic()
        pids = support.trigger_all()
        victim = hosts.by_hostname(_writer_host(lock, 180))
        chunk = _blocked_chunk(pids, int(entry_id))
        assert chunk.task_id in support.chunk_tasks_in(victim.worker.log(), received=True)
        victim.host.cut()
        cut_at = time.monotonic()
        others = [w for w in hosts.workers if w is not victim]

        def redelivered() -> Any:
            return [w for w in others
                    if chunk.task_id in support.chunk_tasks_in(w.worker.log(), received=True)]
        (taker,) = harness.wait_for(redelivered, 120, "the held chunk to be redelivered",
                                    interval=0.1, on_fail=hosts.logs)
        redelivery_s = time.monotonic() - cut_at
    # Seconds, not kombu's ~100 s default sweep period or the hour of the default timeout.
    assert redelivery_s < VISIBILITY_TIMEOUT + 5 * RESTORE_SECONDS + 10, redelivery_s
    # The lock is gone: the redelivered chunk can write; the cut host's transaction was
    # rolled back when the forwarder dropped its server connection.
    statuses = support.wait_all(pids, timeout=600)
    done_s = time.monotonic() - cut_at
    assert statuses == ["SUCCESS"] * len(pids), hosts.logs()
    assert chunk.task_id in support.chunk_tasks_in(taker.worker.log())
    assert chunk.task_id not in support.chunk_tasks_in(victim.worker.log())
    out = support.assert_exact(reference, since)
    support.assert_counted_once(pids, reference.entries)
    # Nothing the cut host held is left behind in the database.
    assert [r for r in harness.sql(
        "SELECT pid FROM pg_stat_activity WHERE application_name = :a"
        " AND state LIKE 'idle in transaction%'", a=victim.host.hostname)] == []

    victim.host.restore()
    restored_at = time.monotonic()
    assert victim.worker.alive(), victim.worker.tail()

    def answers() -> bool:
        replies = app.control.ping(destination=[victim.node], timeout=1.0) or []
        return any(victim.node in r for r in replies)
    harness.wait_for(answers, 180, f"{victim.node} to answer again", interval=0.5,
                     on_fail=victim.worker.tail)
    rejoin_s = time.monotonic() - restored_at
    # Back at work: the next recalculation's chunks reach it again.
    before = support.chunk_tasks_in(victim.worker.log())
    since = support.forget_stats()
    again = support.trigger_all()
    assert support.wait_all(again, timeout=600) == ["SUCCESS"] * len(again)
    new_on_victim = support.chunk_tasks_in(victim.worker.log()) - before
    assert new_on_victim & {c.task_id for c in support.chunks_of(again)}, victim.worker.tail()
    support.assert_exact(reference, since)
    record(settings=f"visibility timeout {VISIBILITY_TIMEOUT} s, restore sweep every"
                    f" {RESTORE_SECONDS} s, forwarder keepalive ~3 s",
           cut=f"{victim.host.hostname} while writing chunk {chunk.chunk_no} of type {det}",
           redelivered_to=taker.host.hostname, redelivery_seconds=round(redelivery_s, 1),
           pipeline_done_after_cut_seconds=round(done_s, 1),
           rejoined_seconds=round(rejoin_s, 1), chunks_after_rejoin=len(new_on_victim),
           rows=out["rows"], trigger_to_cut_seconds=round(cut_at - t0, 1))


def test_older_release_host_is_visible_as_such(hosts: Cluster, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from carbon_api.app import app
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.access.tokens import create_token
    from carbon_tasks.workers import product_version

    with session_scope() as s:
        token = create_token(s, "multihost-viewer", "viewer")
    older = [w for w in hosts.workers if w.release == OLDER_RELEASE]
    assert len(older) == 1
    expected = f"{metadata.version('carbon-pipeline')}+{OLDER_RELEASE}"
    nodes = {w.node for w in hosts.workers}
    with TestClient(app) as client:
        def seen() -> dict[str, Any] | None:
            r = client.get("/v1/workers/overview", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body if nodes <= {w["name"] for w in body["workers"]} else None
        body = harness.wait_for(seen, 60, "every host in the worker overview", interval=0.5)
    mine = {w["name"]: w for w in body["workers"] if w["name"] in nodes}
    assert mine[older[0].node]["version"] == expected
    assert {mine[w.node]["version"] for w in hosts.workers if w.release is None} == {
        product_version()}
    assert body["versions_differ"] is True
    assert expected in body["versions"] and product_version() in body["versions"]
    assert all(mine[n]["queues"] for n in nodes)
