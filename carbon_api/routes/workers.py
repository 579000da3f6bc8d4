"""Live Celery workers and what they are running."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from kombu.exceptions import OperationalError as BrokerError

from carbon_api.deps import Viewer
from carbon_api.errors import READ, ApiError
from carbon_api.schemas import WorkerOut, WorkersOverview
from carbon_tasks.dispatch import BrokerUnavailable
from carbon_tasks.workers import live_workers, worker_overview

router = APIRouter(tags=["workers"], responses=READ)
log = logging.getLogger("carbon.api")

INSPECT_TIMEOUT = 1.0


def _read(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (BrokerUnavailable, BrokerError, OSError) as exc:
        log.warning("worker inventory unavailable: %s", exc)
        raise ApiError(503, f"The message broker is unreachable ({str(exc)[:200]}); cannot "
                            "list workers") from None


@router.get("/workers", response_model=list[WorkerOut])
def workers(_: Viewer) -> list[dict[str, object]]:
    """Workers answering Celery's remote control within a second, with their active tasks,
    the product version they run and their queues; an empty list when none is running.
    503 when the broker is unreachable. `/v1/workers/overview` adds `versions_differ`."""
    return _read(lambda: live_workers(timeout=INSPECT_TIMEOUT))


@router.get("/workers/overview", response_model=WorkersOverview)
def overview(_: Viewer) -> dict[str, Any]:
    """The workers (as `/v1/workers`) with the distinct `versions` they run, a top-level
    `versions_differ` flag and the API's own `api_version`."""
    return asdict(_read(lambda: worker_overview(timeout=INSPECT_TIMEOUT)))
