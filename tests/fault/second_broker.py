"""The fault suite's RabbitMQ pass, run beside the rest of a Redis session.

A session's broker is fixed when its settings are read, so the RabbitMQ pass is a second
pytest session over ``tests/fault`` with ``CARBON_TEST_BROKER=amqp`` (its own database, Redis
key prefix and RabbitMQ vhost). To keep the one ``python -m pytest`` run short it starts in
the background as soon as this session's own fault scenarios are done (never beside them:
their timings are tight) and overlaps the integration and unit tests;
``test_on_rabbitmq.py``, moved to the end of the run, waits for it and reports its scenarios.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WAITER = "tests/fault/test_on_rabbitmq.py::test_fault_suite_on_rabbitmq"


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    report: Path
    log: Path
    started: float


_state: dict[str, object] = {}


def wanted() -> bool:
    kind = os.environ.get("CARBON_TEST_BROKER", "redis").strip().lower() or "redis"
    brokers = os.environ.get("CARBON_FAULT_BROKERS", "redis,amqp").replace(" ", "").split(",")
    return kind == "redis" and "amqp" in brokers


def arrange(items: list[pytest.Item]) -> None:
    """Move the waiting test last and remember after which test to start the pass."""
    waiter = [i for i in items if i.nodeid == WAITER]
    if not waiter or not wanted():
        return
    items.remove(waiter[0])
    items.append(waiter[0])
    faults = [i.nodeid for i in items if i.nodeid.startswith("tests/fault/")
              and i.nodeid != WAITER]
    if faults:
        _state["after"] = faults[-1]
    else:
        start()


def after_test(nodeid: str) -> None:
    if _state.get("after") == nodeid:
        start()


def start() -> Run:
    run = _state.get("run")
    if isinstance(run, Run):
        return run
    out = Path(tempfile.mkdtemp(prefix="carbon-fault-amqp-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["CARBON_TEST_BROKER"] = "amqp"
    # And the other way a full recalculation sums its stage: the Redis pass's slices are
    # small, so their chunks sum their own rows through a stage indexed from the start; here
    # no stage is indexed before its last chunk, which then sums the whole slice
    # (services/recalc/chunk_sums.py). Every fault scenario meets both ways.
    env["CARBON_STAGE_INDEXED_MAX_ROWS"] = "0"
    report, log = out / "amqp.xml", out / "amqp.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "tests/fault", "-q", "-p", "no:cacheprovider",
             f"--junitxml={report}"], cwd=ROOT, env=env, stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True)
    run = Run(proc, report, log, time.monotonic())
    _state["run"] = run
    return run


def stop() -> None:
    """At the end of the session: a pass nobody waited for (e.g. -x stopped early) is ended."""
    run = _state.get("run")
    if isinstance(run, Run) and run.proc.poll() is None:
        try:
            os.killpg(run.proc.pid, signal.SIGTERM)
            run.proc.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(run.proc.pid, signal.SIGKILL)
