"""Celery tasks and the pipeline graph. Import the app from here:

    from carbon_tasks import app, pipeline
"""

from carbon_tasks.app import app

__all__ = ["app"]
