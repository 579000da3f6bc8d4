"""Housekeeping beat task: purge stored uploads beyond their retention."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from carbon_domain import task_names as tn
from carbon_domain.db.session import session_scope
from carbon_domain.services.upkeep.upload_retention import purge_uploads as purge
from carbon_domain.settings import get_settings
from carbon_tasks.app import app
from carbon_tasks.base import CarbonTask

log = logging.getLogger("carbon.tasks.retention")


@app.task(base=CarbonTask, bind=True, name=tn.PURGE_UPLOADS, acks_late=False,
          max_retries=0)
def purge_uploads(self: Any) -> dict[str, Any]:
    """Delete uploads older than CARBON_UPLOAD_RETENTION_DAYS or beyond the newest
    CARBON_UPLOAD_RETENTION_KEEP of their scope (never one an active job needs)."""
    s = get_settings()
    with session_scope() as session:
        result = purge(session, max_age_days=s.upload_retention_days,
                       keep_per_scope=s.upload_retention_keep)
    if result.purged:
        log.info("purge_uploads: %s", asdict(result))
    return asdict(result)
