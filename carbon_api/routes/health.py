"""``GET /v1/health``: liveness plus database and broker reachability (no auth)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text

from carbon_api.schemas import Health
from carbon_domain.db.session import get_engine
from carbon_tasks.workers import broker_problem

router = APIRouter(tags=["health"])


def database_status() -> str:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception:  # noqa: BLE001 - health reports, it never raises
        return "unavailable"


def broker_status() -> str:
    """The configured broker (Redis, RabbitMQ or the embedded one) answers a bounded connect,
    with the same transport options the workers use."""
    try:
        return "ok" if broker_problem() is None else "unavailable"
    except Exception:  # noqa: BLE001 - health reports, it never raises
        return "unavailable"


@router.get("/health", response_model=Health, responses={
    503: {"model": Health, "description": "The database or the broker is unreachable.",
          "content": {"application/json": {"example": {
              "status": "degraded", "database": "ok", "broker": "unavailable"}}}}})
def health(response: Response) -> Health:
    """Liveness of the API and reachability of its database and broker (no auth)."""
    database, broker = database_status(), broker_status()
    ok = database == "ok" and broker == "ok"
    if not ok:
        response.status_code = 503
    return Health(status="ok" if ok else "degraded", database=database,
                  broker=broker)
