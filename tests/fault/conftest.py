"""Fixtures of the fault suite: real worker subprocesses instead of the in-process worker.

Subprocesses inherit the session's environment from ``tests/conftest.py`` (the throwaway
PostgreSQL database, the session's broker — Redis DB 11 with a per-session key prefix, or a
RabbitMQ vhost of its own with ``CARBON_TEST_BROKER=amqp`` — and Redis DB 12 for results),
plus per-test overrides: chunk size, visibility timeout, stale-job threshold.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fault import harness


def _purge_broker() -> None:
    """Drop this session's queues, unacked messages and results, so no message of an earlier
    test (job ids restart at 1 after each truncate) reaches this test's workers. Queue
    bindings stay: they are the routing table. On RabbitMQ (the session's own vhost) the
    queues are purged; the unacked messages of a killed worker returned to them when its
    connection closed."""
    import redis

    prefix = os.environ["CARBON_REDIS_KEY_PREFIX"]
    urls = [os.environ["CELERY_RESULT_BACKEND"]]
    if harness.BROKER_KIND == "amqp":
        harness.purge_queues()
    else:
        urls.append(os.environ["CELERY_BROKER_URL"])
    for url in urls:
        r = redis.Redis.from_url(url)
        keys = [k for k in r.scan_iter(match=f"{prefix}*", count=1000)
                if b"_kombu.binding" not in k]
        if keys:
            r.delete(*keys)


class Processes:
    """Starts workers, beat and Redis servers for one test; kills them all at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[harness.Proc] = []
        self._n = 0

    def worker(self, *, wait: bool = True, queues: str | None = None,
               concurrency: int = 2, **env: str) -> harness.Worker:
        self._n += 1
        w = harness.Worker(f"fault-w{self._n}", harness.child_env(**env), self.log_dir,
                           queues=queues, concurrency=concurrency)
        self.started.append(w.start())
        return w.wait_ready() if wait else w

    def beat(self, **env: str) -> harness.Proc:
        self._n += 1
        schedule = self.log_dir / f"beat-{self._n}.schedule"
        b = harness.Proc(f"fault-beat{self._n}",
                         [harness.CARBON, "beat", "--loglevel", "INFO", "--schedule",
                          str(schedule), "--lock-wait", "0"],
                         harness.child_env(**env), self.log_dir)
        self.started.append(b.start())
        return b

    def redis(self) -> harness.RedisServer:
        r = harness.RedisServer(self.log_dir, harness.child_env())
        self.started.append(r.start())
        return r.wait_ready()

    def logs(self) -> str:
        return "\n".join(p.tail(60) for p in self.started)

    def stop_all(self) -> None:
        for p in reversed(self.started):
            p.kill()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def procs(db: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Processes]:
    """Per-test subprocesses on a clean broker and database; logs printed on failure."""
    _purge_broker()
    p = Processes(tmp_path)
    try:
        yield p
    finally:
        p.stop_all()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            sys.stderr.write("\n" + p.logs() + "\njobs:\n" + harness.describe_jobs() + "\n")
        # Backends of killed workers may still hold locks; the next truncate needs them gone.
        harness.terminate_other_backends()
        _purge_broker()


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    """This process's settings (read by the in-test reconciler), patchable per test."""
    from carbon_domain.settings import get_settings

    s = get_settings()

    class Patch:
        def __call__(self, **values: Any) -> Any:
            for k, v in values.items():
                monkeypatch.setattr(s, k, v)
            return s

    return Patch()


@pytest.fixture(autouse=True)
def _no_in_process_worker() -> Iterator[None]:
    """If the in-process test worker of tests/conftest.py runs in this session, it consumes
    the same queues: pause its consumers so only this test's subprocess workers run tasks."""
    if "celery.contrib.testing.worker" not in sys.modules:
        yield
        return
    # Only this process's own worker (start_worker names it gen<pid>@host): the workers a
    # test or a module fixture started (the multihost hosts) must keep consuming.
    from celery.utils.nodenames import anon_nodename

    from carbon_tasks.app import app

    mine = anon_nodename()
    names = [n for reply in (app.control.ping(timeout=0.5) or []) for n in reply if n == mine]
    queues = harness.all_queues().split(",")
    for q in queues:
        if names:
            app.control.cancel_consumer(q, destination=names, reply=True, timeout=1)
    try:
        yield
    finally:
        for q in queues:
            if names:
                app.control.add_consumer(q, destination=names, reply=True, timeout=1)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Any:
    """Record a scenario's figures; printed in the terminal summary (README "Reliability")."""

    def record(**values: Any) -> None:
        request.node.user_properties.extend([("broker", harness.BROKER_KIND), *values.items()])

    return record


_FIGURES: list[tuple[str, str, list[tuple[str, Any]]]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "tests/fault/" in report.nodeid and report.user_properties:
        _FIGURES.append((report.nodeid.split("::")[-1], report.outcome,
                         list(report.user_properties)))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("fault scenarios")
    for name, outcome, props in _FIGURES:
        terminalreporter.write_line(f"{name}: {outcome.upper()}")
        for k, v in props:
            terminalreporter.write_line(f"    {k}: {v}")
