"""Pool children freeze what they inherited and collect young objects every 50,000
allocations (carbon_tasks/worker_gc.py): 15 % less worker CPU on the 1M bench."""

from __future__ import annotations

import subprocess
import sys

_CHILD = """
import gc, sys
import carbon_tasks.tasks  # what a worker imports: it must bring the hook along
assert "carbon_tasks.worker_gc" in sys.modules
before = (gc.get_threshold()[0], gc.get_freeze_count())
from celery import signals
signals.worker_process_init.send(sender=None)
print(before[0], before[1], gc.get_threshold()[0], gc.get_freeze_count())
"""


def test_a_pool_child_freezes_its_inherited_heap_and_raises_the_young_threshold() -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    t0, frozen0, t1, frozen1 = (int(x) for x in out.stdout.split())
    assert (t0, frozen0) == (700, 0)      # Python's defaults until the child starts
    assert t1 == 50_000
    assert frozen1 > 50_000               # Celery, the ORM, the task modules: all frozen
