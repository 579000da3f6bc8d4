"""A small cluster on this machine: three worker hosts (network namespaces), each running its
own ``carbon worker`` with its own hostname, against the session's PostgreSQL database and
Redis broker, which stay in the root namespace and listen on 127.0.0.1 only. The hosts reach
them through ``tcp_proxy.py`` listeners bound to each host's root-side veth address.

Everything made here (namespaces, veths, the proxy, the workers) is removed by the fixture's
finalizer, also when a test fails; a session that crashed is swept at the next start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fault import harness
from tests.fault.conftest import _no_in_process_worker, _purge_broker  # noqa: F401
from tests.multihost import netns

REQUIRE = os.environ.get("CARBON_REQUIRE_SERVICES") == "1"
HOSTS = 3
OLDER_RELEASE = "older-build"  # host 3 runs "another version" of the product
# Redelivery within seconds of a host vanishing: messages unacked for longer than the
# visibility timeout go back to their queue at the next sweep of any live worker.
VISIBILITY_TIMEOUT = 6
RESTORE_SECONDS = 1
CHUNK_SIZE = 4000
# libpq gives up on a dead server connection after ~5 s instead of TCP's two hours; the
# worker host's side of a cut link then errors out once the link is back.
PG_KEEPALIVE = ("keepalives=1&keepalives_idle=2&keepalives_interval=1&keepalives_count=3"
                "&tcp_user_timeout=5000")


@pytest.fixture(scope="session")
def netns_ready() -> None:
    problem = netns.unavailable()
    if problem:
        if REQUIRE:
            pytest.fail(problem)
        pytest.skip(problem)


@dataclass
class WorkerHost:
    host: netns.Host
    worker: harness.Worker
    release: str | None

    @property
    def node(self) -> str:
        return f"worker@{self.host.hostname}"


class Cluster:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.hosts: list[netns.Host] = []
        self.proxy = netns.Proxy(log_dir / "tcp-proxy.log")
        self.workers: list[WorkerHost] = []

    def start(self) -> Cluster:
        netns.sweep()
        self.hosts = netns.make_hosts(HOSTS)
        pg = urlsplit(os.environ["CARBON_DATABASE_URL"])
        rd = urlsplit(os.environ["CELERY_BROKER_URL"])
        targets = {"pg": f"{pg.hostname}:{pg.port or 5432}",
                   "redis": f"{rd.hostname}:{rd.port or 6379}"}
        pairs = {(h.index, svc): f"{h.root_ip}:0={t}" for h in self.hosts
                 for svc, t in targets.items()}
        self.proxy.start(list(pairs.values()))
        for h in self.hosts:
            release = OLDER_RELEASE if h.index == HOSTS else None
            env = self._env(h, self.proxy.ports[pairs[(h.index, "pg")]],
                            self.proxy.ports[pairs[(h.index, "redis")]], release)
            w = harness.Worker(f"host{h.index}", env, self.log_dir, concurrency=1)
            w.argv = h.argv(*w.argv[:-2], "--hostname", f"worker@{h.hostname}")
            self.workers.append(WorkerHost(h, w, release))
        for wh in self.workers:
            wh.worker.start()
        for wh in self.workers:
            wh.worker.wait_ready(90)
        return self

    def _env(self, h: netns.Host, pg_port: int, redis_port: int, release: str | None
             ) -> dict[str, str]:
        db = urlsplit(os.environ["CARBON_DATABASE_URL"]).path.lstrip("/")
        user = urlsplit(os.environ["CARBON_DATABASE_URL"]).username or "postgres"
        broker_db = urlsplit(os.environ["CELERY_BROKER_URL"]).path
        backend_db = urlsplit(os.environ["CELERY_RESULT_BACKEND"]).path
        env = harness.child_env(
            CARBON_DATABASE_URL=(f"postgresql+psycopg2://{user}@{h.root_ip}:{pg_port}/{db}"
                                 f"?application_name={h.hostname}&{PG_KEEPALIVE}"),
            CELERY_BROKER_URL=f"redis://{h.root_ip}:{redis_port}{broker_db}",
            CELERY_RESULT_BACKEND=f"redis://{h.root_ip}:{redis_port}{backend_db}",
            CARBON_CHUNK_SIZE=str(CHUNK_SIZE),
            CARBON_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
            CARBON_UNACKED_RESTORE_SECONDS=str(RESTORE_SECONDS),
        )
        env.pop("CARBON_RELEASE", None)
        if release:
            env["CARBON_RELEASE"] = release
        return env

    def by_node(self, node: str) -> WorkerHost:
        (found,) = [w for w in self.workers if w.node == node]
        return found

    def by_hostname(self, hostname: str) -> WorkerHost:
        (found,) = [w for w in self.workers if w.host.hostname == hostname]
        return found

    def logs(self) -> str:
        return "\n".join(w.worker.tail(80) for w in self.workers)

    def stop(self) -> None:
        for wh in self.workers:
            wh.worker.kill()
        self.proxy.stop()
        for h in self.hosts:
            h.destroy()
        netns.sweep(owner_alive=True)


@pytest.fixture(scope="module")
def cluster(netns_ready: None, pg_database: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The hosts, on the session's database as it is (the tests seed it first)."""
    _purge_broker()
    c = Cluster(tmp_path_factory.mktemp("multihost"))
    try:
        yield c.start()
    finally:
        c.stop()
        harness.terminate_other_backends()
        _purge_broker()
