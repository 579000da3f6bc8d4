"""Benchmark environment: its own PostgreSQL database, Redis key prefix and worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_S = 0.05  # RSS sampling period of the worker processes


def vm_hwm_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM) in MB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def _exe(pid: int) -> str | None:
    """The program a process runs (/proc/PID/exe); None once it is gone."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    """Child pids of every thread of ``pid``: Celery may fork a replacement pool child from
    a thread other than the main one, and /proc lists children per forking thread."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids.extend(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return kids


def redis_urls(redis_url: str) -> tuple[str, str]:
    """The broker's and the result backend's URLs from ``--redis-url``: its database number
    N (``redis://host:port/N``) for the broker and N + 1 for the results, 9 and 10 when it
    names none. Appending ``/9`` to a URL that already ended in ``/N`` gave ``/N/9``, which
    redis-py rejects. User, password and query (``?ssl_cert_reqs=…``) are kept."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(redis_url)
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"--redis-url: database must be a number, not {path!r}")
    base = int(path) if path else 9

    def with_db(n: int) -> str:
        return urlunsplit(parts._replace(path=f"/{n}"))

    return with_db(base), with_db(base + 1)


def configure(database_url: str, redis_url: str, chunk_size: int) -> None:
    """Set the environment before anything imports the settings."""
    from sqlalchemy.engine import make_url

    db = make_url(database_url).database
    broker, backend = redis_urls(redis_url)
    os.environ.update({
        "CARBON_DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": backend,
        # One prefix per bench database: two bench runs never share queues.
        "CARBON_REDIS_KEY_PREFIX": f"bench-{db}:",
        "CARBON_CHUNK_SIZE": str(chunk_size),
        "CARBON_DISPATCH_GRACE_SECONDS": "120",
        "CARBON_LOG_LEVEL": "WARNING",
    })


def recreate_database(database_url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": url.database})
        c.execute(text(f'DROP DATABASE IF EXISTS "{url.database}"'))
        c.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    from carbon_domain.db import migrate
    migrate.upgrade(database_url)


def database_exists(database_url: str) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"))
    with admin.connect() as c:
        found = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"),
                          {"d": url.database}).scalar()
    admin.dispose()
    return bool(found)


# Tables every recalculation rewrites: vacuumed even when the statistics view has not yet
# seen a worker's writes (PostgreSQL 15 backends publish their counters when idle, up to
# seconds later).
ALWAYS_TOUCHED = ("data_entry_emissions", "data_entries")


def vacuum_analyze_if_no_autovacuum(database_url: str) -> float | None:
    """What autovacuum does in a deployment, for a server that runs without it (this
    machine's PostgreSQL: ``autovacuum = off``), on the tables the runs touched. After the
    seed and the full recalculations the tables were never analyzed and carry their dead
    rows (1M: 712k dead entries; 1.2M dead rows met by the slice's 2-process run when the
    slices ran without it), so PostgreSQL plans with default estimates: the incremental
    chunk's DELETE by entry id scanned all 2.7M emission rows (0.7-1.0 s per chunk instead
    of 0.02 s), its read by id hashed the whole 102k-entry slice (0.35-0.44 s instead of
    0.03-0.12 s). Returns the seconds it took (untimed in the figures), None when
    autovacuum is on."""
    done = vacuum_analyze_touched(database_url)
    return None if done is None else done["seconds"]


def vacuum_analyze_touched(database_url: str) -> dict[str, Any] | None:
    """``VACUUM ANALYZE`` of every table with dead rows or rows changed since its last
    analyze, and of ALWAYS_TOUCHED; None when autovacuum is on (it does this itself)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            if c.execute(text("SHOW autovacuum")).scalar() != "off":
                return None
            c.execute(text("SELECT pg_stat_clear_snapshot()"))
            tables = set(c.execute(text(
                "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()"
                " AND (n_dead_tup > 0 OR n_mod_since_analyze > 0)")).scalars())
            present = set(c.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND tablename = ANY(:t)"), {"t": list(ALWAYS_TOUCHED)}).scalars())
            tables |= present
            dead = int(c.execute(text(
                "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables"
                " WHERE schemaname = current_schema()")).scalar() or 0)
            t0 = time.perf_counter()
            for name in sorted(tables):
                c.execute(text(f'VACUUM ANALYZE "{name}"'))
            return {"seconds": time.perf_counter() - t0, "tables": sorted(tables),
                    "dead_rows_before": dead}
    finally:
        engine.dispose()


class Workers:
    """`carbon worker` subprocesses (prefork), the way a deployment runs them."""

    def __init__(self, concurrency: int, log: Path) -> None:
        self.concurrency = concurrency
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        self._main = 0.0
        self._children: dict[int, float] = {}

    def __enter__(self) -> Workers:
        carbon = Path(sys.executable).parent / "carbon"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        import celeryconfig  # after configure(): it reads the settings when imported

        queues = ",".join(q.name for q in celeryconfig.task_queues)
        self.proc = subprocess.Popen(
            [str(carbon), "worker", "--queues", queues,
             "--concurrency", str(self.concurrency), "--pool", "prefork", "--loglevel",
             "WARNING", "--hostname", f"bench{self.concurrency}@%h"],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=os.environ.copy())
        self._sampler = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._sampler.start()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        from carbon_tasks.app import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited; see {self.log}")
            replies = app.control.ping(timeout=0.5) or []
            if any(f"bench{self.concurrency}@" in next(iter(r)) for r in replies):
                return
        raise RuntimeError(f"worker did not answer a ping within {timeout} s; see {self.log}")

    def pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid, *_children(self.proc.pid)]

    def _sample(self) -> None:
        """Every pid the worker ever ran, with its VmHWM, until the worker stops. A pool
        child replaced after max tasks or above CARBON_WORKER_MAX_MEMORY_MB is gone by the
        end of a run, so reading only the live pids then missed exactly the children that
        grew most. VmHWM is the process's own peak, so a sample taken any time before the
        child exits holds its peak up to then; at one sample per SAMPLE_S only the growth
        of a child's last SAMPLE_S is missed."""
        while not self._stop.wait(SAMPLE_S):
            self._sample_now()

    def peak_rss_mb(self) -> dict[str, float]:
        """VmHWM (peak resident set) of the main process and of the largest pool child,
        counting children that were replaced (max tasks, max memory) during the run, and
        how many children ran (``children``) and how many of them are gone (``recycled``)."""
        self._sample_now()
        with self._lock:
            out: dict[str, float] = {"main": self._main} if self._main else {}
            if self._children:
                out["child_max"] = max(self._children.values())
            alive = set(self.pids()) if self.proc is not None else set()
            out["children"] = len(self._children)
            out["recycled"] = sum(1 for p in self._children if p not in alive)
        return out

    def child_peaks_mb(self) -> dict[int, float]:
        """Peak RSS of every pool child the worker ran (pid → MB), recycled ones included."""
        self._sample_now()
        with self._lock:
            return dict(self._children)

    def _sample_now(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        exe = _exe(self.proc.pid)
        for pid in self.pids():
            # A pool child is a fork of the worker (same executable). The worker also runs
            # short-lived helper programs (an exec'd child read mid-exec showed a 0.3 MB
            # VmHWM in a loaded CI run): they are not pool children.
            if pid != self.proc.pid and _exe(pid) != exe:
                continue
            mb = vm_hwm_mb(pid)
            if mb is None:
                continue
            with self._lock:
                if pid == self.proc.pid:
                    self._main = max(self._main, mb)
                else:
                    self._children[pid] = max(self._children.get(pid, 0.0), mb)

    def __exit__(self, *exc: Any) -> None:
        if self.proc is None:
            return
        self._sample_now()
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
