"""Seeding, triggering and exactness checks of the multi-host scenarios."""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from carbon_domain.db.session import session_scope
from tests.fault import harness
from tests.integration.helpers import emissions

YEAR = 2025
ENTRIES = 100_000
UNITS = 200


@dataclass(frozen=True)
class Baseline:
    rows: list[tuple[Any, ...]]
    stats: dict[tuple[str, str], Any]
    entries: int


def stats_snapshot() -> dict[tuple[str, str], Any]:
    """Every report's and report module's statistics of the year, without timestamps."""
    def clean(st: Any) -> Any:
        return {k: v for k, v in (st or {}).items() if k != "computed_at"}
    out: dict[tuple[str, str], Any] = {}
    for unit, module, st in harness.sql(
            "SELECT u.institutional_code, m.module_type_id, m.stats FROM carbon_report_modules m"
            " JOIN carbon_reports r ON r.id = m.carbon_report_id JOIN units u ON u.id = r.unit_id"
            " WHERE r.year = :y", y=YEAR):
        out[(unit, str(module))] = clean(st)
    for unit, st in harness.sql(
            "SELECT u.institutional_code, r.stats FROM carbon_reports r JOIN units u ON u.id ="
            " r.unit_id WHERE r.year = :y", y=YEAR):
        out[(unit, "report")] = clean(st)
    return out


def seed(out_dir: Path) -> float:
    """A synthetic university of ENTRIES entries, loaded through the ingest path by whatever
    workers consume the session's queues. Returns the seconds it took."""
    from carbon_domain.seed.generator import generate
    from carbon_tasks.seeding import load_seed

    t0 = time.monotonic()
    manifest = generate(out_dir, units=UNITS, entries=ENTRIES, year=YEAR)
    result = load_seed(manifest, year=YEAR, created_by="multihost-seed")
    assert result.ok, [(f.file.path, f.status, f.message) for f in result.files]
    return time.monotonic() - t0


def engine_totals() -> tuple[int, float]:
    """The year's emission rows computed in this process by the engine itself, no pipeline:
    the reference the seeded rows are checked against."""
    import os

    from bench.floor import compute_rows

    _, n, kg = compute_rows(os.environ["CARBON_DATABASE_URL"], YEAR)
    return n, kg


def baseline() -> Baseline:
    rows = emissions()
    ((n,),) = harness.sql("SELECT count(*) FROM data_entries WHERE year = :y", y=YEAR)
    return Baseline(rows, stats_snapshot(), int(n))


def trigger_all() -> list[str]:
    """A full recalculation of the year: every module, every type (as the bench does)."""
    from carbon_domain.catalog import ModuleType
    from carbon_tasks.operations import trigger_module_recalculation

    return [trigger_module_recalculation(module=m.value, year=YEAR, only_stale=False,
                                         created_by="multihost").pipeline_id
            for m in ModuleType]


def wait_all(pipeline_ids: list[str], timeout: float) -> list[str]:
    from carbon_tasks.waiting import wait_for_pipeline

    deadline = time.monotonic() + timeout
    return [wait_for_pipeline(p, timeout=max(1.0, deadline - time.monotonic())).status
            for p in pipeline_ids]


@dataclass(frozen=True)
class Chunk:
    job_id: int
    chunk_no: int
    det: int
    lo_id: int
    hi_id: int
    task_id: str


def chunks_of(pipeline_ids: list[str]) -> list[Chunk]:
    rows = harness.sql(
        "SELECT c.job_id, c.chunk_no, j.data_entry_type_id, c.lo_id, c.hi_id, c.task_id"
        " FROM recalc_chunks c JOIN data_ingestion_jobs j ON j.id = c.job_id"
        " WHERE j.pipeline_id = ANY(CAST(:p AS uuid[])) ORDER BY c.job_id, c.chunk_no",
        p=[str(uuid.UUID(p)) for p in pipeline_ids])
    return [Chunk(int(a), int(b), int(c), int(d), int(e), str(f)) for a, b, c, d, e, f in rows]


_SUCCEEDED = re.compile(r"carbon\.recalculate_chunk\[([0-9a-f-]{36})\] succeeded")
_RECEIVED = re.compile(r"carbon\.recalculate_chunk\[([0-9a-f-]{36})\] received")


def chunk_tasks_in(log: str, *, received: bool = False) -> set[str]:
    return set((_RECEIVED if received else _SUCCEEDED).findall(log))


def per_host_chunks(cluster: Any, chunks: list[Chunk]) -> dict[str, list[str]]:
    """Which host's worker ran (to success) each chunk of ``chunks``, from the workers' logs:
    hostname → task ids."""
    wanted = {c.task_id for c in chunks}
    return {w.host.hostname: sorted(chunk_tasks_in(w.worker.log()) & wanted)
            for w in cluster.workers}


def forget_stats() -> Any:
    """Forget every statistic (the aggregations must rebuild them) and return the database's
    clock: every emission row a recalculation rewrites is stamped later than this.

    The emission rows stay: research-facility factors are computed from other modules'
    rows (carbon.refresh_facility_factors), so rows deleted up front would change what a
    full recalculation of every module at once computes. Their timestamps show instead that
    every chunk rewrote its rows."""
    with session_scope() as s:
        s.execute(text("UPDATE carbon_report_modules SET stats = NULL"))
        s.execute(text("UPDATE carbon_reports SET stats = NULL"))
    return harness.sql("SELECT clock_timestamp()")[0][0]


def assert_exact(base: Baseline, since: Any) -> dict[str, Any]:
    """The baseline's emission rows, one for one, each rewritten after ``since``, and the
    same statistics."""
    ((stale,),) = harness.sql(
        "SELECT count(*) FROM data_entry_emissions WHERE computed_at < :t", t=since)
    assert stale == 0, f"{stale} emission rows were not rewritten"
    now = emissions()
    before, after = Counter(r[0] for r in base.rows), Counter(r[0] for r in now)
    doubled = sorted(e for e, n in after.items() if n > before.get(e, 0))
    lost = sorted(e for e, n in before.items() if after.get(e, 0) < n)
    assert (len(now), doubled[:5], lost[:5]) == (len(base.rows), [], []), (
        f"{len(now)} rows, expected {len(base.rows)}: {len(doubled)} entries with extra"
        f" rows, {len(lost)} missing rows")
    different = [(a, b) for a, b in zip(sorted(base.rows, key=_order),
                                        sorted(now, key=_order), strict=True)
                 if not _same_row(a, b)]
    assert different == [], f"{len(different)} rows differ, e.g. {different[:5]}"
    stats = stats_snapshot()
    assert stats.keys() == base.stats.keys()
    off = [k for k in stats if not _near(stats[k], base.stats[k])]
    assert off == [], [(k, base.stats[k], stats[k]) for k in off[:3]]
    from carbon_domain.services.upkeep.integrity import check_emission_integrity
    with session_scope() as s:
        assert check_emission_integrity(s).ok
    return {"rows": len(now), "kg": round(sum(r[3] for r in now), 3)}


def _near(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 relative (statistics are rounded to 1e-6: one unit of slack).

    Research-facility factors are sums over other modules' rows in whatever order
    PostgreSQL reads them, so the rows they price can differ in the last binary digit."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_near(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_near(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return abs(a - b) <= max(1e-9 * max(abs(a), abs(b)), 1.01e-6 if a != b else 0.0)
    return bool(a == b)


def _order(r: tuple[Any, ...]) -> tuple[Any, ...]:
    return (r[0], r[1], r[2], r[5] or 0, -1 if r[4] is None else r[4], r[3])


def _same_row(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Same entry, emission type, scope, factor and additional value; kg to 1e-9."""
    return (a[:3] == b[:3] and a[4:] == b[4:]
            and abs(a[3] - b[3]) <= 1e-9 * max(abs(a[3]), abs(b[3])))


def assert_counted_once(pipeline_ids: list[str], entries: int) -> None:
    """Every recalculation job closed with all its chunks done, its entries counted once:
    the chunks' entries add up to each job's planned total and to the year's entries."""
    rows = harness.sql(
        "SELECT j.id, j.state, j.result, j.progress_done, j.progress_total,"
        " (SELECT count(*) FROM recalc_chunks c WHERE c.job_id = j.id AND NOT c.done),"
        " (SELECT coalesce(sum(c.entries), 0) FROM recalc_chunks c WHERE c.job_id = j.id)"
        " FROM data_ingestion_jobs j WHERE j.job_type = 'emission_recalc'"
        " AND j.pipeline_id = ANY(CAST(:p AS uuid[]))",
        p=[str(uuid.UUID(p)) for p in pipeline_ids])
    assert rows
    by_state: dict[tuple[str, str], int] = defaultdict(int)
    for _, state, result, done, total, undone, chunk_entries in rows:
        by_state[(state, result)] += 1
        # progress_done is a display heartbeat and may lag (a chunk's progress UPDATE can
        # use a sum read before a sibling committed); the chunk records are the count.
        assert undone == 0 and chunk_entries == total and done <= total, rows
    assert set(by_state) == {("FINISHED", "SUCCESS")}, by_state
    assert sum(int(r[6]) for r in rows) == entries
    assert harness.active_jobs() == []
