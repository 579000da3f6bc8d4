"""The FastAPI application. ``carbon api`` serves ``carbon_api.app:app``.

Routes live in ``carbon_api.routes.*`` and stay thin: parse and validate (``deps``), authorize
(bearer token, role), call one ``carbon_tasks`` / ``carbon_domain`` function, answer with a
pydantic model (``schemas``).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from carbon_api import errors, metrics
from carbon_api.console import install as install_console
from carbon_api.console.security import SecurityHeadersMiddleware
from carbon_api.hsts import HstsMiddleware
from carbon_api.http_limits import BodyLimitMiddleware, NoStoreMiddleware
from carbon_api.logging import RequestContextMiddleware, configure_logging
from carbon_api.routes import (
    catalog,
    exports,
    factors,
    health,
    jobs,
    previews,
    reports,
    results,
    reverts,
    sync,
    workers,
)
from carbon_domain.settings import get_settings

DESCRIPTION = """
Operators upload factor, data entry and reference CSVs, see which modules and data entry types
are stale for a year, trigger recalculations and follow them live.

**Authentication**: `Authorization: Bearer <token>` on every route but `/v1/health`. Tokens
come from `carbon tokens create --name NAME --role viewer|operator`; viewers read, operators
read and write. Missing or invalid token → 401, wrong role → 403.

**Starting work** answers 202 `{job_id, pipeline_id, state, message}`; follow it with
`/v1/sync/jobs/{id}/stream` or `/v1/sync/pipelines/{id}/stream` (server-sent events).

**Errors**: `{"detail": "..."}`; invalid path or query values → 422; a CSV that cannot be used
at all → 400 and nothing is written; a broker or database outage → 503. Every response carries
an `X-Request-ID` header (yours, if you sent one) that the server logs name too.
"""

TAGS = [
    {"name": "health", "description": "Liveness (no token needed) and the stale statistics a "
                                  "monitoring rule polls (viewer token)."},
    {"name": "catalog", "description": "Module types, data entry types, emission types."},
    {"name": "sync", "description": "Uploads, recalculation triggers and staleness."},
    {"name": "jobs and pipelines", "description": "Job and pipeline views, SSE, abort."},
    {"name": "reports", "description": "Carbon reports and module statistics."},
    {"name": "factors", "description": "Emission factors with their status (live / retired)."},
    {"name": "results", "description": "Drill-down to entries and rows; one entry explained."},
    {"name": "exports", "description": "Streamed CSV exports of results and details."},
    {"name": "workers", "description": "Live Celery workers."},
]


def create_app() -> FastAPI:
    configure_logging(get_settings().log_level)

    # In production every route but health needs a token (docs/design.md §7), so the docs
    # and the schema are not served there; use a development instance to browse them.
    docs = get_settings().environment != "production"
    app = FastAPI(title="carbon-pipeline", version="0.1.0", description=DESCRIPTION,
                  openapi_tags=TAGS, docs_url="/docs" if docs else None,
                  redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    settings = get_settings()
    if settings.environment == "production":  # production refuses CARBON_HSTS_SECONDS=0
        app.add_middleware(HstsMiddleware, max_age=settings.hsts_seconds)
    app.add_middleware(NoStoreMiddleware)
    # Outermost: an oversized form is refused before anything else reads it.
    app.add_middleware(BodyLimitMiddleware)
    errors.install(app)
    v1 = APIRouter(prefix="/v1")
    for module in (health, catalog, sync, jobs, reports, factors, results, exports, workers,
                   reverts, previews):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(metrics.router)  # /metrics, for Prometheus (docs/metrics.md)
    # The operator console (server-rendered pages) is the app's front door: `/`.
    install_console(app)
    return app


app = create_app()
