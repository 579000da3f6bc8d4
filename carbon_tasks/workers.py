"""Live worker inventory from Celery's remote-control broadcast (the API's ``/v1/workers``)."""

from __future__ import annotations

from typing import Any

from kombu import Connection

from carbon_tasks.app import app
from carbon_tasks.dispatch import BrokerUnavailable


def live_workers(timeout: float = 1.0) -> list[dict[str, Any]]:
    """Workers that answer within ``timeout`` seconds, with their active tasks.

    The broker is checked first with a bounded connect, so an unreachable broker raises
    BrokerUnavailable in a few seconds instead of retrying forever.
    """
    conn = Connection(app.conf.broker_url, connect_timeout=2,
                      transport_options=dict(app.conf.broker_transport_options or {}))
    try:
        try:
            conn.ensure_connection(max_retries=1, timeout=3)
        except Exception as exc:  # noqa: BLE001 - kombu raises several families here
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
        replies = app.control.inspect(timeout=timeout, connection=conn).active() or {}
    finally:
        conn.release()
    workers = []
    for name, tasks in sorted(replies.items()):
        tasks = tasks or []
        workers.append({"name": name, "active_tasks": len(tasks),
                        "tasks": [{"id": t.get("id"), "name": t.get("name")} for t in tasks]})
    return workers
