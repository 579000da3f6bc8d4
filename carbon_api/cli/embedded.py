"""The embedded mode seen from the CLI: carbon_tasks.embedded (Celery with every task module,
and Alembic: ~1 s of imports) is loaded only when the configuration uses it, so commands
against a server database and broker start without it; and the clear error when a separate
process needs a shared broker but only the embedded one is configured."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from carbon_api.cli.common import error


def ensure_schema() -> None:
    """Migrate the embedded SQLite database on first use. Against a server database this does
    nothing, so carbon_tasks.embedded (Celery with every task module, and Alembic: ~1 s of
    imports) is loaded only for SQLite: `carbon status` and friends start without them."""
    from carbon_domain.settings import get_settings
    if get_settings().is_sqlite:
        from carbon_tasks.embedded import ensure_schema as migrate_embedded
        migrate_embedded()


def worker_if_embedded() -> AbstractContextManager[Any]:
    """An in-process worker with the embedded broker, else nothing (external workers run the
    work); carbon_tasks.embedded is imported only in the first case."""
    from carbon_domain.settings import get_settings
    if not get_settings().embedded_broker:
        return nullcontext()
    from carbon_tasks.embedded import worker_if_embedded as embedded_worker
    return embedded_worker()


def require_external_broker(what: str) -> None:
    """Fail clearly when a separate process needs a broker but only the in-process one exists."""
    from carbon_domain.settings import get_settings
    if get_settings().embedded_broker:
        error(
            f"{what} needs a shared broker, but CELERY_BROKER_URL is not set (the embedded "
            "memory:// broker lives inside one process, as in `carbon demo`); set "
            "CELERY_BROKER_URL=redis://HOST:6379/0 and CELERY_RESULT_BACKEND=redis://HOST:6379/1"
        )
