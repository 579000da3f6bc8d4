"""Live Celery workers and what they are running."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from kombu.exceptions import OperationalError as BrokerError

from carbon_api.deps import Viewer
from carbon_api.errors import READ, ApiError
from carbon_api.schemas import WorkerOut
from carbon_tasks.dispatch import BrokerUnavailable
from carbon_tasks.workers import live_workers

router = APIRouter(tags=["workers"], responses=READ)
log = logging.getLogger("carbon.api")

INSPECT_TIMEOUT = 1.0


@router.get("/workers", response_model=list[WorkerOut])
def workers(_: Viewer) -> list[dict[str, object]]:
    """Workers answering Celery's `inspect active` within a second, with their active task
    counts; an empty list when none is running. 503 when the broker is unreachable."""
    try:
        return live_workers(timeout=INSPECT_TIMEOUT)
    except (BrokerUnavailable, BrokerError, OSError) as exc:
        log.warning("worker inventory unavailable: %s", exc)
        raise ApiError(503, f"The message broker is unreachable ({str(exc)[:200]}); cannot "
                            "list workers") from None
