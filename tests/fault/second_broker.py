"""The fault suite's RabbitMQ pass, run beside the rest of a Redis session.

A session's broker is fixed when its settings are read, so the RabbitMQ pass is a second
pytest session over ``tests/fault`` with ``CARBON_TEST_BROKER=amqp`` (its own database, Redis
key prefix and RabbitMQ vhost). To keep the one ``python -m pytest`` run short it starts in
the background as soon as this session's own fault scenarios are done (never beside them:
their timings are tight) and overlaps the integration and unit tests;
``test_on_rabbitmq.py``, moved to the end of the run, waits for it and reports its scenarios.

``scripts/test`` runs the suite as separate pytest sessions (the fault and multi-host phase,
then the rest on several processes), so there the pass outlives the session that starts it:
with ``CARBON_FAULT_AMQP_DIR`` set, the first session starts it (after its fault scenarios,
as above) into that directory, leaves the waiting test out and does not stop it at its end;
the rest of the suite runs beside it; then a last session of the waiting test alone attaches
to it and checks it (its exit status is a file the pass writes when it ends). Without the
overlap the first phase spent ~3.5 minutes of a CI run here waiting for the pass alone.
"""

from __future__ import annotations

import os
import shlex
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


# scripts/test: the directory of a pass that outlives the session starting it (docstring).
SHARED = os.environ.get("CARBON_FAULT_AMQP_DIR", "").strip()


class Detached:
    """A pass started by an earlier session (not a child of this process): it has ended when
    its exit status file exists."""

    def __init__(self, out: Path) -> None:
        self.rc_file = out / "amqp.rc"
        self.args = (out / "amqp.args").read_text()
        self.pid = int((out / "amqp.pid").read_text())  # its process group (a new session)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self.rc_file.exists():
            text = self.rc_file.read_text().strip()
            self.returncode = int(text) if text else None
        return self.returncode

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(1)
        assert self.returncode is not None
        return self.returncode


@dataclass
class Run:
    proc: subprocess.Popen[bytes] | Detached
    report: Path
    log: Path
    started: float  # time.time() of its start


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
    faults = [i.nodeid for i in items if i.nodeid.startswith("tests/fault/")]
    if SHARED and faults:
        # scripts/test's first phase: start the pass after the fault scenarios; its last
        # session waits for it.
        waiter[0].config.hook.pytest_deselected(items=waiter)
        _state["after"] = faults[-1]
        _state["leave_running"] = True
        return
    items.append(waiter[0])
    if faults:
        _state["after"] = faults[-1]
    else:
        start()


def collected(items: list[pytest.Item]) -> None:
    """After deselection (``-k``, ``--deselect``): start after the last fault scenario that
    will run, or now when none will."""
    if "after" not in _state:
        return
    faults = [i.nodeid for i in items if i.nodeid.startswith("tests/fault/")
              and i.nodeid != WAITER]
    if faults:
        _state["after"] = faults[-1]
    elif not _state.get("leave_running"):
        start()
    # else scripts/test's first session runs no fault scenario: its last session, if it waits
    # for the pass, starts it


def after_test(nodeid: str) -> None:
    if _state.get("after") == nodeid:
        start()


def start() -> Run:
    run = _state.get("run")
    if isinstance(run, Run):
        return run
    if SHARED and (Path(SHARED) / "amqp.started").exists():  # started by an earlier session
        out = Path(SHARED)
        run = Run(Detached(out), out / "amqp.xml", out / "amqp.log",
                  float((out / "amqp.started").read_text()))
        _state["run"] = run
        return run
    out = Path(SHARED) if SHARED else Path(tempfile.mkdtemp(prefix="carbon-fault-amqp-"))
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTEST_") and k != "CARBON_FAULT_AMQP_DIR"}
    env["CARBON_TEST_BROKER"] = "amqp"
    # And the other way a full recalculation sums its stage: the Redis pass's slices are
    # small, so their chunks sum their own rows through a stage indexed from the start; here
    # no stage is indexed before its last chunk, which then sums the whole slice
    # (services/recalc/chunk_sums.py). Every fault scenario meets both ways.
    env["CARBON_STAGE_INDEXED_MAX_ROWS"] = "0"
    report, log = out / "amqp.xml", out / "amqp.log"
    args = [sys.executable, "-m", "pytest", "tests/fault", "-q", "-p", "no:cacheprovider",
            f"--junitxml={report}"]
    argv = args
    if SHARED:  # it outlives this session: its exit status goes to a file
        (out / "amqp.args").write_text(shlex.join(args))
        argv = ["sh", "-c", f"{shlex.join(args)}; echo $? > {shlex.quote(str(out / 'amqp.rc'))}"]
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
    if SHARED:
        (out / "amqp.pid").write_text(str(proc.pid))
        (out / "amqp.started").write_text(repr(time.time()))
        run = Run(Detached(out), report, log, time.time())
    else:
        run = Run(proc, report, log, time.time())
    _state["run"] = run
    return run


def stop() -> None:
    """At the end of the session: a pass nobody waited for (e.g. -x stopped early) is ended,
    unless a later session of scripts/test waits for it (``SHARED``: left to that session)."""
    run = _state.get("run")
    if not isinstance(run, Run) or run.proc.poll() is not None:
        return
    if _state.get("leave_running"):
        return
    try:
        os.killpg(run.proc.pid, signal.SIGTERM)
        run.proc.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(run.proc.pid, signal.SIGKILL)
