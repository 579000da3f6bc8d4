"""``GET /v1/health``: liveness plus database and broker reachability (no auth), and
``GET /v1/health/stale-stats``: what a monitoring rule polls (viewer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from carbon_api.deps import Viewer
from carbon_api.errors import READ
from carbon_api.schemas import Health, StaleStatsOut
from carbon_domain.db.session import database_reachable, session_scope
from carbon_domain.services.reads.stale_stats import stale_stats
from carbon_tasks.workers import broker_problem

router = APIRouter(tags=["health"])


def database_status() -> str:
    return "ok" if database_reachable() else "unavailable"


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


@router.get("/health/stale-stats", response_model=StaleStatsOut, responses=READ)
def stale(_: Viewer, older_than: Annotated[float, Query(
        ge=0, le=10 * 365 * 86400,
        description="Seconds a type must have needed recalculation to be listed.")] = 0,
          ) -> StaleStatsOut:
    """The (year, module, type) combinations that have needed recalculation for at least
    `older_than` seconds, each with its reasons and since when; (in `failed`) the types
    whose last recalculation failed or was aborted, and (in `failed_modules`) the modules
    whose last aggregation failed ("✗ totals not updated", with why), whatever their age.
    `carbon status --stale-only --json` prints the same."""
    with session_scope() as s:
        return StaleStatsOut.model_validate(stale_stats(s, older_than), from_attributes=True)
