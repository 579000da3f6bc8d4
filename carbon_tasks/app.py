"""The Celery application; configuration lives in ``celeryconfig``.

Importing it loads no task module. Processes that only *send* work (the CLI, the API, the
console) publish messages by task name (``carbon_tasks.names``; the graph's signatures in
``carbon_tasks.pipeline``), which Celery routes from ``celeryconfig.task_routes`` exactly as
it would for a registered task: none of them needs the task code, and importing it (every
task module, and through them the recalculation engine, ingest and aggregation services:
~0.9 s, 300+ modules) cost every `carbon recalc --wait` most of its start-up.

A process that *runs* tasks gets every task module when its worker initialises: Celery's
loader imports ``carbon_tasks.tasks`` (the lazy autodiscovery below) in
``WorkController.__init__`` (``carbon worker``, ``celery -A carbon_tasks worker``, the
in-process test and embedded workers) and in ``celery beat``, before any message is
consumed. ``carbon_tasks.embedded`` imports them itself as well.
"""

from __future__ import annotations

from celery import Celery

app = Celery("carbon")
app.config_from_object("celeryconfig")
# Lazy: imported on Celery's ``import_modules`` signal (a worker's or beat's start), not here.
app.autodiscover_tasks(["carbon_tasks"], related_name="tasks")
