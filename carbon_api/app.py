"""The FastAPI application. ``carbon api`` serves ``carbon_api.app:app``."""

from __future__ import annotations

from fastapi import FastAPI, Response


def _database_status() -> str:
    from sqlalchemy import text

    from carbon_domain.db.session import get_engine
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception:  # noqa: BLE001 - health reports, it never raises
        return "unavailable"


def _broker_status() -> str:
    from kombu import Connection

    from carbon_domain.settings import get_settings
    settings = get_settings()
    if settings.embedded_broker:
        return "ok"
    try:
        with Connection(settings.broker_url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        return "ok"
    except Exception:  # noqa: BLE001
        return "unavailable"


def create_app() -> FastAPI:
    app = FastAPI(title="carbon-pipeline", version="0.1.0")

    @app.get("/v1/health", tags=["health"])
    def health(response: Response) -> dict[str, str]:
        """Liveness of the API and reachability of its database and broker (no auth)."""
        database, broker = _database_status(), _broker_status()
        ok = database == "ok" and broker == "ok"
        if not ok:
            response.status_code = 503
        return {"status": "ok" if ok else "degraded", "database": database, "broker": broker}

    return app


app = create_app()
