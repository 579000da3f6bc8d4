"""Minimal reproduction: a Redis restart ends a Celery 5.7.0 worker's main process.

    python -m tests.fault.redis_restart_repro [--consumer stock|carbon] [--port 6390]

Needs only ``redis-server`` on the PATH, Celery and redis-py (no database, no project
settings). It starts a private ``redis-server`` (the first free port from 6390, no
persistence), a prefork worker of tests/fault/redis_restart_app.py with two processes, and one
task that holds its unacked message while the other process stays free, so the consumer has
a BRPOP pending. Then it stages, in a fixed order, the race that CPU load produces by chance
(tests/fault/test_redis_restarted.py with three CPU hogs beside it: 3 of 3 runs):

1. SIGSTOP the worker's main process, so the next two events wait in its epoll queue;
2. ``CLIENT KILL TYPE pubsub``: the pidbox's pub/sub sockets close first (epoll reports ready
   sockets in the order they became ready);
3. SIGKILL redis-server (the BRPOP socket closes), and keep it down;
4. SIGCONT the worker: it notices the loss on a pub/sub socket while its BRPOP is still
   pending, and cleans up with Redis down;
5. start redis-server again (empty) and send a ``ping`` task.

With Celery's consumer the main process logs "Unrecoverable error: AttributeError: 'NoneType'
object has no attribute 'hostname'" and shuts down (why: carbon_tasks/consumer.py). With the
project's consumer it reconnects and runs the ping. Prints one JSON line; exit status 0 if the
worker survived and ran the ping, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONSUMERS = {"stock": "celery.worker.consumer:Consumer",
             "carbon": "carbon_tasks.consumer:Consumer"}
FIRST_PORT = 6390


def free_port_from(first: int) -> int:
    for port in range(first, first + 100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}..{first + 99}")


def wait_until(pred: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    return pred()


class Redis:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log, self.proc = port, log, None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no"], stdout=out, stderr=subprocess.STDOUT)
        assert wait_until(self.ping, 10), f"redis-server on {self.port} did not start"

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_connect_timeout=0.5)

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:  # noqa: BLE001 - down is an answer
            return False

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)


def run(consumer: str = "stock", port: int | None = None, log_dir: Path | None = None
        ) -> dict[str, Any]:
    """Stage the restart once; returns what happened (``survived`` and the evidence)."""
    port = port or free_port_from(FIRST_PORT)
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="redis-restart-repro-"))
    redis = Redis(port, log_dir / "redis.log")
    worker_log = log_dir / f"worker-{consumer}.log"
    # Celery prefers CELERY_BROKER_URL (and CELERY_RESULT_BACKEND) from the environment to
    # the app's own broker: under the test suite they name the shared Redis.
    for name in [k for k in os.environ if k.startswith("CELERY_")]:
        del os.environ[name]
    os.environ["REPRO_BROKER_URL"] = f"redis://127.0.0.1:{port}/0"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "REPRO_CONSUMER": CONSUMERS[consumer]}
    from tests.fault import redis_restart_app as repro

    redis.start()
    worker = None
    try:
        with open(worker_log, "ab") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tests.fault.redis_restart_app", "worker",
                 "--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO",
                 "--queues", "repro", "--hostname", f"repro-{port}@%h",
                 # Mingle's BRPOP on its reply queue would hold back the task queue's
                 # first one for a whole polling interval (30 s here).
                 "--without-mingle"],
                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

        def log() -> str:
            return worker_log.read_text(errors="replace")

        def died() -> bool:
            return "Unrecoverable error" in log() or worker.poll() is not None

        assert wait_until(lambda: " ready." in log(), 60), log()
        held = repro.hold.delay(120).id
        assert wait_until(lambda: f"{held}] received" in log(), 30), log()
        time.sleep(1.0)  # the consumer issues its next BRPOP, for the free process
        os.kill(worker.pid, signal.SIGSTOP)
        try:
            killed = redis.client().client_kill_filter(_type="pubsub")
            redis.kill()
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        noticed = wait_until(lambda: "Connection to broker lost" in log() or died(), 30)
        time.sleep(1.0)  # the consumer's cleanup runs with Redis still down
        redis.start()
        # The worker's log, not a result backend, tells whether the ping ran: a backend
        # would be one more Redis client to recover.
        pinged = "" if died() else repro.ping.delay().id
        answered = bool(pinged) and bool(wait_until(
            lambda: f"{pinged}] succeeded" in log() or died(), 60)) and not died()
        crash = [line for line in log().splitlines() if "Unrecoverable error" in line]
        return {"consumer": consumer, "port": port, "pubsub_clients_killed": killed,
                "loss_noticed": bool(noticed), "answered_after_restart": answered,
                "unrecoverable_error": crash[0].split("] ", 1)[-1] if crash else None,
                "survived": answered and not crash, "worker_log": str(worker_log)}
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        redis.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--consumer", choices=sorted(CONSUMERS), default="stock")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--log-dir", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.consumer, args.port, args.log_dir)
    print(json.dumps(result))
    return 0 if result["survived"] else 1


if __name__ == "__main__":
    sys.exit(main())
