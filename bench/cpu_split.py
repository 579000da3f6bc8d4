"""Where a timed run's CPU went: the worker processes, the PostgreSQL backends of the bench
database, the rest of the machine, and idle cores.

Why: the pipeline's distance to the hardware floor is a CPU budget before it is anything
else. On 2 cores, a run of W seconds has 2·W core-seconds; the 1M pipeline (2026-12-06, quiet)
spent ~12 in the workers' Python, ~12.5 in PostgreSQL backends and ~3 idle, where the floor
spends ~6.7 in one backend. Reading the split tells which side a change must shrink.

Linux only (``/proc``). Backends are sampled every 0.2 s and keep their largest CPU reading,
so a backend that exits mid-run (a worker's pool connection recycled) keeps what it used
until its last sample; worker processes likewise (a recycled pool child too).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_s(pid: int) -> float | None:
    """utime + stime of one process, in seconds (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _backends(database: str) -> list[int]:
    """PostgreSQL backend processes serving ``database`` (their title names it)."""
    out = []
    marker = f" {database} "
    for name in os.listdir("/proc"):
        if name.isdigit():
            line = _cmdline(int(name))
            if line.startswith("postgres:") and marker in line:
                out.append(int(name))
    return out


def _machine() -> tuple[float, float]:
    """(idle + iowait, total) core-seconds since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[3] + v[4]) / _TICK, sum(v) / _TICK


class CpuSplit:
    """``with CpuSplit(db, workers.pids) as split: run()`` then ``split.result()``."""

    def __init__(self, database: str, worker_pids: Callable[[], list[int]],
                 interval: float = 0.2) -> None:
        self.database = database
        self.worker_pids = worker_pids
        self.interval = interval
        self._base: dict[int, float] = {}
        self._seen: dict[int, float] = {}
        self._kind: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._m0 = self._m1 = (0.0, 0.0)
        self._t0 = self._t1 = 0.0

    def _sample(self, first: bool = False) -> None:
        for kind, pids in (("postgres", _backends(self.database)),
                           ("workers", self.worker_pids())):
            for pid in pids:
                cpu = _cpu_s(pid)
                if cpu is None:
                    continue
                if first:
                    self._base[pid] = cpu
                elif pid not in self._base:
                    self._base[pid] = 0.0  # started during the run: all of it counts
                self._kind[pid] = kind
                self._seen[pid] = max(self._seen.get(pid, 0.0), cpu)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> CpuSplit:
        self._sample(first=True)
        self._m0, self._t0 = _machine(), time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="cpu-split", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self._m1, self._t1 = _machine(), time.perf_counter()

    def result(self) -> dict[str, Any]:
        """Core-seconds of the run: ``workers_cpu_s``, ``postgres_cpu_s``, ``idle_core_s``,
        ``other_cpu_s`` (everything else on the machine) and ``cores_s`` (cpus × wall)."""
        used = {"workers": 0.0, "postgres": 0.0}
        for pid, cpu in self._seen.items():
            used[self._kind[pid]] += max(0.0, cpu - self._base.get(pid, 0.0))
        idle = self._m1[0] - self._m0[0]
        total = self._m1[1] - self._m0[1]
        return {"workers_cpu_s": round(used["workers"], 2),
                "postgres_cpu_s": round(used["postgres"], 2),
                "idle_core_s": round(idle, 2),
                "other_cpu_s": round(max(0.0, total - idle - used["workers"]
                                         - used["postgres"]), 2),
                "cores_s": round(total, 2), "wall_s": round(self._t1 - self._t0, 2)}
