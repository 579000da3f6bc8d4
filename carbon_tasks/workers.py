"""Live worker inventory from Celery's remote-control broadcast (the API's ``/v1/workers``).

Two broadcasts run side by side (one ``timeout`` in all): Celery's own ``active`` (every
worker, whatever its version, answers it) and ``carbon_info``, a custom inspect command
(``celery.worker.control.inspect_command``) registered below when a worker imports its
tasks: it reports the product version the worker runs, its pid, uptime and queues. A
worker that answers ``active`` but not ``carbon_info`` runs an older release (version
null); ``versions_differ`` is set as soon as the live workers do not all report the same
version.
"""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from celery.worker.control import active_queues, inspect_command
from kombu import Connection

from carbon_tasks.app import app
from carbon_tasks.dispatch import BrokerUnavailable

INFO_COMMAND = "carbon_info"


@lru_cache
def product_version() -> str:
    """The package version, plus ``+CARBON_RELEASE`` (a deploy label such as an image tag)
    or, from a git checkout, ``+g<short commit>``: two builds of one package version differ.
    """
    try:
        version = metadata.version("carbon-pipeline")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    release = os.environ.get("CARBON_RELEASE", "").strip()
    if release:
        return f"{version}+{release}"
    commit = _git_commit()
    return f"{version}+g{commit}" if commit else version


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"],
                             capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


_STARTED = time.monotonic()


@inspect_command(name=INFO_COMMAND)
def carbon_info(state: Any, **_: Any) -> dict[str, Any]:
    """Worker side: what this worker runs (answered by every worker of this release)."""
    return {"version": product_version(), "pid": os.getpid(),
            "uptime_seconds": round(time.monotonic() - _STARTED, 1),
            "queues": sorted(q.get("name", "") for q in active_queues(state))}


@dataclass(slots=True)
class WorkerInfo:
    name: str
    active_tasks: int
    tasks: list[dict[str, Any]]
    version: str | None  # None: an older release without the carbon_info command
    pid: int | None = None
    queues: list[str] = field(default_factory=list)
    uptime_seconds: float | None = None
    answered_at: datetime | None = None  # when it answered: its last sign of life


@dataclass(slots=True)
class WorkerOverview:
    workers: list[WorkerInfo]
    versions: list[str | None]
    versions_differ: bool
    api_version: str  # what the reading process (the API) runs


def broker_connection() -> Connection:
    """A connection to the configured broker (Redis or RabbitMQ), connected with a bounded
    retry: raises BrokerUnavailable in a few seconds instead of retrying forever."""
    conn = Connection(app.conf.broker_url, connect_timeout=2,
                      transport_options=dict(app.conf.broker_transport_options or {}))
    try:
        conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:  # noqa: BLE001 - kombu, redis-py and amqp raise several families
        conn.release()
        raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
    return conn


def broker_problem() -> str | None:
    """Why the broker cannot be reached (one line), or None when it answers. The embedded
    memory:// broker always answers."""
    if app.conf.broker_url.startswith("memory://"):
        return None
    try:
        broker_connection().release()
    except BrokerUnavailable as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else "unreachable"
    return None


def queue_depths(names: list[str]) -> dict[str, int | None]:
    """Messages waiting in each queue (not counting those a worker holds unacked); None for a
    queue RabbitMQ does not know yet. RabbitMQ answers a passive declare with the queue's
    count; kombu's Redis transport counts its list (with the key prefix) itself."""
    conn = broker_connection()
    try:
        out: dict[str, int | None] = {}
        amqp = conn.transport.driver_type == "amqp"
        for name in names:
            channel = conn.channel()
            try:
                out[name] = (int(channel.queue_declare(name, passive=True).message_count)
                             if amqp else int(channel._size(name)))
            except Exception:  # noqa: BLE001 - not declared: RabbitMQ closes the channel (404)
                out[name] = None
            finally:
                try:
                    channel.close()
                except Exception:  # noqa: BLE001 - already closed by the 404
                    pass
        return out
    finally:
        conn.release()


def _broadcast(command: str, timeout: float) -> list[dict[str, Any]]:
    conn = broker_connection()
    try:
        return app.control.broadcast(command, reply=True, timeout=timeout,
                                     connection=conn) or []
    finally:
        conn.release()


def _merge(replies: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in replies:
        out.update(r or {})
    return out


def worker_overview(timeout: float = 1.0) -> WorkerOverview:
    """Workers that answer within ``timeout`` seconds, with their active tasks, version and
    queues. The broker is checked first with a bounded connect, so an unreachable broker
    raises BrokerUnavailable in a few seconds instead of retrying forever."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        active_f = pool.submit(_broadcast, "active", timeout)
        info_f = pool.submit(_broadcast, INFO_COMMAND, timeout)
        active, info = _merge(active_f.result()), _merge(info_f.result())
    now = datetime.now(UTC)
    workers = []
    for name in sorted(set(active) | set(info)):
        found_tasks, found_meta = active.get(name), info.get(name)
        tasks: list[dict[str, Any]] = found_tasks if isinstance(found_tasks, list) else []
        meta: dict[str, Any] = found_meta if isinstance(found_meta, dict) else {}
        if "error" in meta:
            meta = {}
        workers.append(WorkerInfo(
            name=name, active_tasks=len(tasks),
            tasks=[{"id": t.get("id"), "name": t.get("name")} for t in tasks],
            version=meta.get("version"), pid=meta.get("pid"),
            queues=list(meta.get("queues") or []), uptime_seconds=meta.get("uptime_seconds"),
            answered_at=now))
    versions = sorted({w.version for w in workers}, key=lambda v: (v is None, v or ""))
    return WorkerOverview(workers, versions, len(versions) > 1, product_version())


def live_workers(timeout: float = 1.0) -> list[dict[str, Any]]:
    """``worker_overview`` as the list of plain dicts ``GET /v1/workers`` returns."""
    return [asdict(w) for w in worker_overview(timeout).workers]


class _AllConsumed(Exception):
    """Raised from the reply callback to stop collecting once nothing is missing."""


@dataclass(slots=True)
class QueueCheck:
    missing: list[str]  # needed queues no answering worker consumes
    answered: int  # workers that answered before the check ended


def unconsumed_queues(needed: list[str], timeout: float = 1.0) -> QueueCheck:
    """Which of ``needed`` no live worker consumes. Returns as soon as the answers received
    cover every needed queue (the usual case: a few ms), so only a real problem waits the
    ``timeout`` (kombu's idle wait for one more reply) before it is reported. Celery's
    ``limit`` would need the number of workers up front, which only another full-timeout
    broadcast can tell."""
    replies: dict[str, Any] = {}
    consumed: set[str] = set()

    def on_reply(reply: dict[str, Any]) -> None:
        replies.update(reply or {})
        for queues in (reply or {}).values():
            if isinstance(queues, list):
                consumed.update(q.get("name", "") for q in queues if isinstance(q, dict))
        if consumed.issuperset(needed):
            raise _AllConsumed

    conn = broker_connection()
    try:
        app.control.broadcast("active_queues", reply=True, timeout=timeout,
                              callback=on_reply, connection=conn)
    except _AllConsumed:
        pass
    finally:
        conn.release()  # a fresh connection: nothing half-read is reused after the stop
    return QueueCheck([q for q in needed if q not in consumed], len(replies))
