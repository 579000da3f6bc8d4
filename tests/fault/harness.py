"""Fault-suite machinery: real processes (``carbon worker`` prefork, ``carbon beat``, a private
``redis-server``), a background reconciler, PostgreSQL probes, and exact result checks.

Holding a chunk in the middle of its write
------------------------------------------
The test locks one data entry row ``FOR UPDATE`` (:class:`EntryLock`). A chunk whose id range
contains that entry deletes its old emission rows, COPYs the new ones, then blocks in the
COPY's foreign-key check (``FOR KEY SHARE`` on the entry row): inside its transaction, its
rows written but not committed. :func:`blocked_writers` sees it in ``pg_stat_activity`` and
:func:`owner_of` maps its PostgreSQL backend to the worker process holding the connection,
so a fault (SIGKILL, SIGSTOP, ``pg_terminate_backend``, a Redis crash) lands at a known point
instead of a lucky one. Releasing the lock lets every waiting writer go on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from carbon_domain.db.session import session_scope
from tests.integration.helpers import UNITS_CSV, emissions, jobs_of, module_stats, wait_pipeline
from tests.integration.test_pipeline_guarantees import EQUIP_FACTORS, equip_entries

ROOT = Path(__file__).resolve().parents[2]
# The session's broker (tests/conftest.py): "redis" or "amqp".
BROKER_KIND = os.environ.get("CARBON_TEST_BROKER", "redis").strip().lower() or "redis"
BIN = Path(sys.executable).parent
CARBON = str(BIN / "carbon")


def all_queues() -> str:
    """Every queue celeryconfig declares, as ``carbon worker --queues`` takes them."""
    import celeryconfig
    return ",".join(q.name for q in celeryconfig.task_queues)

YEAR = 2025
EQUIPMENT = 4
# Three equipment types of ENTRIES entries each, in chunks of CHUNK: 6 chunks per type.
ENTRIES = 1200
CHUNK = 200
TYPES = ((10, "scientific", "Spectrometers", ""), (11, "it", "Laptop", "Standard"),
         (12, "other", "Lab Freezer", ""))
UNITS = ("LAB-A", "LAB-B")

T = TypeVar("T")


def wait_for(pred: Callable[[], T], timeout: float, what: str, interval: float = 0.05,
             on_fail: Callable[[], str] | None = None) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = on_fail() if on_fail else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}\n{extra}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------ processes

class Proc:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> Proc:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=log,
                                          stderr=subprocess.STDOUT, cwd=ROOT,
                                          start_new_session=True)
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, n: int = 40) -> str:
        return f"--- {self.name} log (last {n} lines) ---\n" + "\n".join(
            self.log().splitlines()[-n:])

    def signal_group(self, sig: int) -> None:
        """Signal the main process and every child (they share our process group)."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole group and reap the main process."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGKILL)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass


class Worker(Proc):
    """``carbon worker`` (prefork) as operators run it."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, *,
                 queues: str | None = None, concurrency: int = 2) -> None:
        argv = [CARBON, "worker", "--queues", queues or all_queues(),
                "--concurrency", str(concurrency),
                "--pool", "prefork", "--loglevel", "INFO", "--hostname", f"{name}@%h"]
        super().__init__(name, argv, env, log_dir)

    def wait_ready(self, timeout: float = 30) -> Worker:
        wait_for(lambda: (not self.alive()) or " ready." in self.log(), timeout,
                 f"worker {self.name} to be ready", interval=0.1, on_fail=self.tail)
        assert self.alive(), f"worker {self.name} exited early\n{self.tail()}"
        return self

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def processes(self) -> list[psutil.Process]:
        try:
            return [psutil.Process(self.pid), *self.children()]
        except psutil.NoSuchProcess:
            return self.children()


def dead(pid: int) -> bool:
    """Gone, or a zombie nobody reaped yet (children of a killed main are re-parented)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class RedisServer(Proc):
    """A throwaway ``redis-server`` with no persistence: a restart loses everything."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--maxmemory-policy", "noeviction"]
        super().__init__(f"redis-{self.port}", argv, env, log_dir)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except Exception:  # noqa: BLE001 - down is an answer
            return False

    def wait_ready(self, timeout: float = 10) -> RedisServer:
        wait_for(self.ping, timeout, f"redis on port {self.port}", interval=0.05,
                 on_fail=self.tail)
        return self

    def crash_and_restart(self) -> float:
        """SIGKILL the server, start a fresh empty one on the same port; seconds down."""
        t0 = time.monotonic()
        self.kill()
        self.start()
        self.wait_ready()
        return time.monotonic() - t0


def child_env(**overrides: str) -> dict[str, str]:
    """The test session's environment (test database, Redis prefix) plus overrides."""
    # CHUNK entries per chunk whatever the rows per entry: the scenarios need many small
    # chunks (a worker killed mid-chunk, an abort between chunks).
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CARBON_LOG_LEVEL": "INFO",
           "CARBON_CHUNK_SIZE": str(CHUNK), "CARBON_CHUNK_MAX_GROWTH": "1"}
    env.update(overrides)
    return env


def run_python(code: str, env: dict[str, str], timeout: float = 120) -> str:
    """Run a Python snippet in a fresh interpreter (its own settings and Celery app)."""
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, f"subprocess failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def run_carbon(*args: str, env: dict[str, str], timeout: float = 60) -> str:
    out = subprocess.run([CARBON, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, f"carbon {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


# ------------------------------------------------------------------------------ reconciler

@contextmanager
def reconciler_thread(interval: float = 1.0) -> Iterator[list[dict[str, Any]]]:
    """Run ``carbon.reconcile`` in this process every ``interval`` seconds (what beat does).
    Yields the list of summaries, appended as they come."""
    from carbon_tasks.reconcile import reconcile

    summaries: list[dict[str, Any]] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                summaries.append(reconcile.apply().get(propagate=True))
            except Exception as exc:  # noqa: BLE001 - recorded, the next round retries
                summaries.append({"error": repr(exc)})
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="fault-reconciler", daemon=True)
    thread.start()
    try:
        yield summaries
    finally:
        stop.set()
        thread.join(30)


def total(summaries: list[dict[str, Any]], key: str) -> int:
    return sum(int(s.get(key) or 0) for s in summaries)


# ------------------------------------------------------------------------------ PostgreSQL

@lru_cache(maxsize=1)
def _engine():  # type: ignore[no-untyped-def]
    """Probes and locks on their own connections (no pool), apart from the app's engine."""
    return create_engine(os.environ["CARBON_DATABASE_URL"], poolclass=NullPool)


class EntryLock:
    """Hold ``FOR UPDATE`` on data entry rows: a chunk writing one of those entries' emission
    rows blocks, mid-transaction (its rows copied, not committed), when it locks
    its entries FOR KEY SHARE (chunk_io.hold_entries; the rows' foreign-key check did it
    before migration 0008), until :meth:`release`."""

    def __init__(self, *entry_ids: int) -> None:
        self.entry_ids = sorted(entry_ids)
        self.engine = _engine()
        self.conn: Any = None
        self.tx: Any = None
        self.pid = 0

    def __enter__(self) -> EntryLock:
        self.conn = self.engine.connect()
        self.tx = self.conn.begin()
        self.pid = int(self.conn.execute(text("SELECT pg_backend_pid()")).scalar())
        got = [r[0] for r in self.conn.execute(text(
            "SELECT id FROM data_entries WHERE id = ANY(:i) ORDER BY id FOR UPDATE"),
            {"i": self.entry_ids})]
        assert got == self.entry_ids
        return self

    def release(self) -> None:
        if self.tx is not None:
            self.tx.rollback()
            self.tx = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __exit__(self, *exc: Any) -> None:
        self.release()


class AdvisoryLock:
    """Hold a transaction-scoped advisory lock (e.g. the year lock every aggregation takes
    before reading its inputs) until the block ends."""

    def __init__(self, namespace: int, key: int) -> None:
        self.namespace, self.key = namespace, key
        self.engine = _engine()
        self.conn: Any = None

    def __enter__(self) -> AdvisoryLock:
        self.conn = self.engine.connect()
        self.conn.begin()
        self.conn.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"),
                          {"a": self.namespace, "b": self.key})
        return self

    def __exit__(self, *exc: Any) -> None:
        self.conn.rollback()
        self.conn.close()


@dataclass(frozen=True)
class Backend:
    pid: int
    client_port: int | None
    query: str


def blocked_writers() -> list[Backend]:
    """Backends of this database waiting on a lock inside a chunk's write: its emission COPY
    or, since the rows carry no foreign key, the entry lock right after it."""
    from carbon_domain.db.dialect.postgres import HOLD_MARK
    with _engine().connect() as c:
        rows = c.execute(text(
            "SELECT pid, client_port, query FROM pg_stat_activity WHERE datname ="
            " current_database() AND wait_event_type = 'Lock' AND (query LIKE"
            " 'COPY data_entry_emissions%' OR query LIKE 'COPY emission_stage_%'"
            " OR query LIKE :held) ORDER BY backend_start"),
            {"held": HOLD_MARK + "%"}).all()
    return [Backend(int(p), port, q) for p, port, q in rows]


def blocked_swaps() -> list[Backend]:
    """Backends of this database waiting on a lock to swap a slice's partition (a full
    recalculation's finish: db/emission_partitions.py)."""
    with _engine().connect() as c:
        rows = c.execute(text(
            "SELECT pid, client_port, query FROM pg_stat_activity WHERE datname ="
            " current_database() AND wait_event_type = 'Lock' AND (query LIKE"
            " 'ALTER TABLE data_entry_emissions_t%' OR query LIKE"
            " 'LOCK TABLE data_entry_emissions_t%') ORDER BY backend_start")).all()
    return [Backend(int(p), port, q) for p, port, q in rows]


def backends_of(processes: list[psutil.Process]) -> list[int]:
    """PostgreSQL backend pids whose client connection belongs to one of ``processes``."""
    ports = set()
    for p in processes:
        try:
            for c in p.net_connections(kind="tcp"):
                if c.raddr and c.raddr.port == 5432:
                    ports.add(c.laddr.port)
        except psutil.Error:
            continue
    if not ports:
        return []
    with _engine().connect() as c:
        rows = c.execute(text(
            "SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database()"
        )).all()
    return [int(pid) for pid, port in rows if port in ports]


def owner_of(backend: Backend, processes: list[psutil.Process]) -> psutil.Process | None:
    for p in processes:
        try:
            for c in p.net_connections(kind="tcp"):
                if c.laddr.port == backend.client_port and c.raddr and c.raddr.port == 5432:
                    return p
        except psutil.Error:
            continue
    return None


def terminate_backends(pids: list[int]) -> int:
    with _engine().connect() as c:
        done = [bool(c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": p}).scalar())
                for p in pids]
    return sum(done)


def terminate_other_backends() -> None:
    """Every backend of the test database but this one (orphans of killed workers)."""
    with _engine().connect() as c:
        c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname ="
                       " current_database() AND pid <> pg_backend_pid()"))


def sql(query: str, **params: Any) -> list[tuple[Any, ...]]:
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(query), params)]


def entry_in_chunk(det: int, chunk_no: int) -> int:
    """The id of an entry in the middle of chunk ``chunk_no`` of ``det`` (chunks are
    CHUNK consecutive entries of the slice in id order)."""
    ((entry_id,),) = sql(
        "SELECT id FROM data_entries WHERE data_entry_type_id = :d AND year = :y ORDER BY id"
        " OFFSET :o LIMIT 1", d=det, y=YEAR, o=chunk_no * CHUNK + CHUNK // 2)
    return int(entry_id)


def recalc_job(pipeline_id: str, det: int) -> Any:
    (job,) = [j for j in jobs_of(pipeline_id)
              if j.job_type == "emission_recalc" and j.data_entry_type_id == det]
    return job


def chunks_done(pipeline_id: str) -> int:
    ((n,),) = sql("SELECT count(*) FROM recalc_chunks c JOIN data_ingestion_jobs j ON j.id ="
                  " c.job_id WHERE c.done AND j.pipeline_id = CAST(:p AS uuid)", p=pipeline_id)
    return int(n)


def active_jobs() -> list[tuple[Any, ...]]:
    return sql("SELECT id, job_type, module_type_id, data_entry_type_id, state FROM"
               " data_ingestion_jobs WHERE state IN ('NOT_STARTED', 'QUEUED', 'RUNNING')"
               " ORDER BY id")


def describe_jobs() -> str:
    rows = sql("SELECT id, job_type, data_entry_type_id, state, result, attempts, dirty,"
               " status_message FROM data_ingestion_jobs ORDER BY id")
    return "\n".join(map(str, rows))


# ------------------------------------------------------------------------------ data

def upload(kind: str, body: str, **kw: Any) -> str:
    from carbon_tasks import operations as ops

    acc = ops.start_upload(kind, body.encode(), created_by="fault-setup", **kw)
    p = wait_pipeline(acc.pipeline_id, timeout=60)
    assert p.status == "SUCCESS", [(j.job_type, j.result, j.status_message)
                                   for j in jobs_of(acc.pipeline_id)]
    return acc.pipeline_id


def upload_equipment(n: int = ENTRIES) -> None:
    """Units, equipment factors and ``n`` entries of each equipment type, through the real
    pipeline (ingest → chunked recalculation → aggregation) on whatever broker the
    environment names. The three entry uploads run side by side."""
    from concurrent.futures import ThreadPoolExecutor

    upload("units", UNITS_CSV, year=YEAR)
    upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=EQUIPMENT, year=YEAR)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda t: upload("data-entries", equip_entries(n, t[1], t[2], t[3]),
                                       module=EQUIPMENT, det=t[0], year=YEAR), TYPES))


@dataclass(frozen=True)
class Snapshot:
    rows: list[tuple[Any, ...]]
    stats: dict[tuple[str, int], dict[str, Any]]


def stats_of(modules: tuple[int, ...]) -> dict[tuple[str, int], dict[str, Any]]:
    out = {}
    for unit in UNITS:
        for m in modules:
            out[(unit, m)] = {k: v for k, v in module_stats(unit, m, YEAR).items()
                              if k != "computed_at"}
    return out


def snapshot(modules: tuple[int, ...] = (EQUIPMENT,)) -> Snapshot:
    return Snapshot(emissions(), stats_of(modules))


def fresh_stats(modules: tuple[int, ...]) -> dict[tuple[str, int], dict[str, Any]]:
    """Module statistics recomputed straight from the current entries and emission rows:
    no aggregation code, so folded partial sums that outlived their rows (a slice emptied
    and recalculated with no chunk to fold) cannot hide in both sides of a comparison.
    Summed as exact decimals of the float8 values, as the aggregation folds them."""
    from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
    from carbon_domain.services.recalc.formula_record import recorded_formula_versions
    from carbon_domain.stats import module_stats as build_stats

    out: dict[tuple[str, int], dict[str, Any]] = {}
    with session_scope() as s:
        for m in modules:
            # The formula versions are a record of the recalculation jobs, not of the rows.
            versions = recorded_formula_versions(s, m, YEAR)
            dets = [int(d) for d in MODULE_DATA_ENTRY_TYPES[ModuleType(m)]]
            kg: dict[str, dict[int, float]] = {}
            counts: dict[str, list[int]] = {}
            for unit, et, total, n in s.execute(text(
                    "SELECT u.institutional_code, e.emission_type_id, sum(e.kg_co2eq::numeric),"
                    " count(*) FROM data_entries d JOIN units u ON u.id = d.unit_id"
                    " LEFT JOIN data_entry_emissions e ON e.data_entry_id = d.id"
                    " WHERE d.year = :y AND d.data_entry_type_id = ANY(:dets) GROUP BY 1, 2"),
                    {"y": YEAR, "dets": dets}):
                if et is None:
                    counts.setdefault(unit, [0, 0])[1] = int(n)
                else:
                    kg.setdefault(unit, {})[int(et)] = float(total)
            for unit, n in s.execute(text(
                    "SELECT u.institutional_code, count(*) FROM data_entries d JOIN units u"
                    " ON u.id = d.unit_id WHERE d.year = :y AND d.data_entry_type_id ="
                    " ANY(:dets) GROUP BY 1"), {"y": YEAR, "dets": dets}):
                counts.setdefault(unit, [0, 0])[0] = int(n)
            for unit in UNITS:
                n, missing = counts.get(unit, [0, 0])
                st = build_stats(kg.get(unit, {}), n, missing, formula_version=versions)
                out[(unit, m)] = {k: v for k, v in st.items() if k != "computed_at"}
    return out


def assert_stats_match_rows(modules: tuple[int, ...] = (EQUIPMENT,)) -> None:
    """Each module's stored statistics equal the sums of its rows."""
    stored, fresh = stats_of(modules), fresh_stats(modules)
    assert stored == fresh, {k: (stored.get(k), v) for k, v in fresh.items()
                             if stored.get(k) != v}


def wipe_results(det: int | None = None) -> None:
    """Forget every emission row (of one type) and every statistic: a recalculation must
    rebuild them, so a lost chunk shows as missing rows and a doubled one as extra rows."""
    with session_scope() as s:
        s.execute(text("DELETE FROM data_entry_emissions WHERE :d IS NULL OR data_entry_id IN"
                       " (SELECT id FROM data_entries WHERE data_entry_type_id = :d)"), {"d": det})
        s.execute(text("UPDATE carbon_report_modules SET stats = NULL"))
        s.execute(text("UPDATE carbon_reports SET stats = NULL"))


def assert_same_results(baseline: Snapshot, modules: tuple[int, ...] = (EQUIPMENT,)
                        ) -> dict[str, Any]:
    """Exactly the baseline's emission rows (count, rows per entry, total kg, every value)
    and module statistics. Returns the figures for the report."""
    now = emissions()
    per_entry_before = Counter(r[0] for r in baseline.rows)
    per_entry_now = Counter(r[0] for r in now)
    doubled = sorted(e for e, n in per_entry_now.items() if n > per_entry_before.get(e, 0))
    lost = sorted(e for e, n in per_entry_before.items() if per_entry_now.get(e, 0) < n)
    assert len(now) == len(baseline.rows), (
        f"{len(now)} emission rows, expected {len(baseline.rows)}: {len(doubled)} entries with"
        f" extra rows (e.g. {doubled[:5]}), {len(lost)} entries missing rows (e.g. {lost[:5]})")
    assert per_entry_now == per_entry_before, (doubled[:10], lost[:10])
    kg_before = sum(r[3] for r in baseline.rows)
    kg_now = sum(r[3] for r in now)
    assert abs(kg_now - kg_before) <= 1e-6 * max(1.0, abs(kg_before)), (kg_now, kg_before)
    assert now == baseline.rows
    stats = stats_of(modules)
    assert stats == baseline.stats
    assert_stats_match_rows(modules)
    # Emission rows carry no foreign keys (migration 0008): no fault may leave an orphan.
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.upkeep.integrity import check_emission_integrity
    with session_scope() as s:
        assert check_emission_integrity(s).ok
    return {"rows": len(now), "entries": len(per_entry_now), "kg": round(kg_now, 3)}


# ------------------------------------------------------------------------------ scenarios

def prepare(procs: Any, *, wipe: bool = True, **worker_env: str) -> tuple[Worker, Snapshot]:
    """Start a worker, load the data through a clean pipeline, keep its results as the
    baseline, then (by default) wipe them."""
    w = procs.worker(**worker_env)
    upload_equipment()
    baseline = snapshot()
    assert len(baseline.rows) == 3 * ENTRIES
    if wipe:
        wipe_results()
    return w, baseline


def trigger() -> str:
    """A module recalculation of all three equipment types: 18 chunks in one chord."""
    from carbon_tasks import operations as ops

    acc = ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, only_stale=False,
                                           created_by="fault")
    assert acc.pipeline_id
    return acc.pipeline_id


def chunk_task_id(job_id: int, chunk_no: int) -> str:
    ((tid,),) = sql("SELECT task_id FROM recalc_chunks WHERE job_id = :j AND chunk_no = :c",
                    j=job_id, c=chunk_no)
    return str(tid)


def assert_pipeline_done(pipeline_id: str, *, attempts: dict[int, int] | None = None,
                         rounds: int = 1) -> dict[str, Any]:
    """SUCCESS, every job FINISHED/SUCCESS with all its chunks, nothing active anywhere, and
    one aggregation per recalculation round (a reconciler re-plan that goes out in two
    reconcile passes is two rounds), each with at most one dirty rerun."""
    js = jobs_of(pipeline_id)
    kinds = [(j.job_type, j.state, j.result) for j in js]
    aggs = [j for j in js if j.job_type == "aggregation"]
    assert kinds[:4] == [
        ("module_emission_recalc", "FINISHED", "SUCCESS"),
        ("emission_recalc", "FINISHED", "SUCCESS"),
        ("emission_recalc", "FINISHED", "SUCCESS"),
        ("emission_recalc", "FINISHED", "SUCCESS"),
    ], describe_jobs()
    assert 1 <= len(aggs) <= rounds and len(kinds) == 4 + len(aggs), describe_jobs()
    assert all((a.state, a.result) == ("FINISHED", "SUCCESS") for a in aggs)
    assert all(a.meta["aggregation"]["runs"] <= 2 for a in aggs)
    recalcs = {j.data_entry_type_id: j for j in js if j.job_type == "emission_recalc"}
    for det, job in recalcs.items():
        r = job.meta["recalculation"]
        assert (r["entries"], r["rows"], r["errors"], r["chunks"], r["undone_chunks"]) == (
            ENTRIES, ENTRIES, 0, ENTRIES // CHUNK, 0), (det, r)
        if attempts is not None:
            assert job.attempts == attempts[det], (det, job.attempts)
    # The last aggregation started after the last recalculation finished: stats are fresh.
    assert max(a.started_at for a in aggs) >= max(j.finished_at for j in recalcs.values())
    assert active_jobs() == []
    return {"recalcs": recalcs, "aggregations": aggs}


def recalc_job_id(pipeline_id: str, det: int) -> int:
    return int(recalc_job(pipeline_id, det).id)


# ------------------------------------------------------------------------------ API, broker

class Api(Proc):
    """``uvicorn carbon_api.app:app`` as a subprocess (``env`` may point it at a dead broker)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "carbon_api.app:app", "--host", "127.0.0.1",
                "--port", str(self.port), "--no-access-log"]
        super().__init__(f"api-{self.port}", argv, env, log_dir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> Api:
        import httpx

        def up() -> bool:
            assert self.alive(), self.tail()
            try:
                httpx.get(f"{self.url}/openapi.json", timeout=1)
                return True
            except httpx.TransportError:
                return False
        wait_for(up, timeout, f"API on port {self.port}", interval=0.1, on_fail=self.tail)
        return self


def dead_broker_env() -> dict[str, str]:
    """Broker (of this session's kind) and result backend on a port nothing listens on."""
    port = free_port()
    broker = (f"amqp://guest:guest@127.0.0.1:{port}//" if BROKER_KIND == "amqp"
              else f"redis://127.0.0.1:{port}/0")
    return {"CELERY_BROKER_URL": broker,
            "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{port}/1"}


def operator_token(name: str = "ops-fault") -> dict[str, str]:
    from carbon_domain.services.access.tokens import create_token

    with session_scope() as s:
        return {"Authorization": f"Bearer {create_token(s, name, 'operator')}"}


def drop_queue(queue: str) -> int:
    """Delete every message waiting in ``queue`` on this session's broker (a lost message:
    what a broker restart without persistence does). Returns how many were dropped."""
    from carbon_tasks.workers import broker_connection

    conn = broker_connection()
    try:
        return int(conn.default_channel.queue_purge(queue) or 0)
    finally:
        conn.release()


def purge_queues() -> None:
    """Empty every queue this session's workers consume (the declared ones and Celery's)."""
    for q in [*all_queues().split(","), "celery"]:
        try:
            drop_queue(q)
        except Exception:  # noqa: BLE001 - RabbitMQ: a queue not declared yet (404)
            pass


def queued_messages(queue: str) -> int:
    from carbon_tasks.workers import queue_depths

    return queue_depths([queue])[queue] or 0


def jobs_after(job_id: int) -> list[tuple[Any, ...]]:
    return sql("SELECT id, job_type, module_type_id, data_entry_type_id, state, result, meta,"
               " pipeline_id FROM data_ingestion_jobs WHERE id > :b ORDER BY id", b=job_id)


def max_job_id() -> int:
    return int(sql("SELECT coalesce(max(id), 0) FROM data_ingestion_jobs")[0][0])
