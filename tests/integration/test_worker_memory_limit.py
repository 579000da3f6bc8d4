"""CARBON_WORKER_MAX_MEMORY_MB: a pool child above the limit after a task is replaced by a
fresh one (Celery's worker_max_memory_per_child), and the work goes on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fault import harness
from tests.fault.conftest import _no_in_process_worker, _purge_broker  # noqa: F401

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _limit(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", "import celeryconfig as c;"
                          " print(c.worker_max_memory_per_child)"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_setting_reaches_celery() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CARBON_WORKER_MAX_MEMORY_MB"}
    assert _limit(env) == str(512 * 1024)
    assert _limit({**env, "CARBON_WORKER_MAX_MEMORY_MB": "300"}) == str(300 * 1024)
    assert _limit({**env, "CARBON_WORKER_MAX_MEMORY_MB": "0"}) == "None"


def test_children_over_the_limit_are_recycled(db: str, tmp_path: Path) -> None:
    """A 1 MB limit: every child passes it with its first task and is replaced (one process:
    each task runs in a new ForkPoolWorker-N); the pipelines still complete."""
    from tests.integration.helpers import UNITS_CSV
    from tests.integration.test_pipeline_guarantees import EQUIP_FACTORS

    def children() -> set[str]:
        return set(re.findall(r"/(ForkPoolWorker-\d+)\] Task carbon\.\w+\[", w.log()))

    _purge_broker()
    w = harness.Worker("memlimit", harness.child_env(CARBON_WORKER_MAX_MEMORY_MB="1"),
                       tmp_path, concurrency=1).start()
    try:
        w.wait_ready(60)
        harness.upload("units", UNITS_CSV, year=harness.YEAR)
        harness.upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=harness.EQUIPMENT,
                       year=harness.YEAR)
        # A child logs its task's "succeeded" line after the task committed: the pipeline
        # can read SUCCESS before the line is written (CI read only ForkPoolWorker-1's once).
        deadline = time.monotonic() + 10
        while len(children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        w.kill()
        _purge_broker()
    assert len(children()) >= 2, w.tail()


def test_bench_rss_sampling_counts_recycled_children(db: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's peak RSS covers every pool child the worker ran, not only the ones alive
    at the end: with a 1 MB limit each task runs in a fresh child and the earlier ones are
    gone when the run ends, yet each of them is in the figures with its own peak."""
    from bench.services import Workers

    _purge_broker()
    for k, v in harness.child_env(CARBON_WORKER_MAX_MEMORY_MB="1").items():
        monkeypatch.setenv(k, v)
    with Workers(2, tmp_path / "worker.log") as workers:
        harness.upload_equipment(200)  # 5 ingests, then per type a plan, a chunk, a finish
        peaks = workers.child_peaks_mb()
        live = set(workers.pids()[1:])
        figures = workers.peak_rss_mb()
    _purge_broker()
    gone = {pid: mb for pid, mb in peaks.items() if pid not in live}
    # Every task ran in its own child; the recycled ones were sampled before they exited.
    assert len(gone) >= 8, peaks
    assert all(mb > 10 for mb in peaks.values()), peaks  # a real Python process each
    assert figures["children"] == len(peaks) and figures["recycled"] == len(gone)
    assert figures["child_max"] == max(peaks.values())
    assert figures["main"] > 10
