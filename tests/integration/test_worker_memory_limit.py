"""CARBON_WORKER_MAX_MEMORY_MB: a pool child above the limit after a task is replaced by a
fresh one (Celery's worker_max_memory_per_child), and the work goes on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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

    _purge_broker()
    w = harness.Worker("memlimit", harness.child_env(CARBON_WORKER_MAX_MEMORY_MB="1"),
                       tmp_path, concurrency=1).start()
    try:
        w.wait_ready(60)
        harness.upload("units", UNITS_CSV, year=harness.YEAR)
        harness.upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=harness.EQUIPMENT,
                       year=harness.YEAR)
    finally:
        w.kill()
        _purge_broker()
    children = set(re.findall(r"/(ForkPoolWorker-\d+)\] Task carbon\.\w+\[", w.log()))
    assert len(children) >= 2, w.tail()
