"""The Celery application; configuration lives in ``celeryconfig``."""

from __future__ import annotations

import warnings

from celery import Celery
from celery.exceptions import CPendingDeprecationWarning

# Chord errbacks: we rely on today's default (the errback runs once, on the body, when a
# header task fails for good); Celery warns on every chord that the default may change.
warnings.filterwarnings("ignore", message=".*task_allow_error_cb_on_chord_header.*",
                        category=CPendingDeprecationWarning)

app = Celery("carbon")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["carbon_tasks"], related_name="tasks", force=True)
