"""The Celery application; configuration lives in ``celeryconfig``."""

from __future__ import annotations

from celery import Celery

app = Celery("carbon")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["carbon_tasks"], related_name="tasks", force=True)
