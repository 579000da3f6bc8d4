"""Log lines: one per event, JSON when ``CARBON_LOG_FORMAT=json``, carrying the fields of
what is being served (the API's request id, user, job and pipeline ids; a task's id, name,
job id and pipeline id).

The fields live in a ContextVar holding a mutable dict: the API's middleware sets it per
request, ``task_prerun`` per task (prefork children and pool threads each run one task at
a time in their own context). In a worker, Celery owns the handlers; with the JSON format
this module gives them :class:`JsonFormatter` (``after_setup_logger``) instead of adding a
second handler, so each event is written once.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from celery import signals

fields: ContextVar[dict[str, Any] | None] = ContextVar("carbon_log_fields", default=None)
FORMATS = ("json", "text")
# Task arguments worth naming in every line the task writes.
_TASK_KEYS = ("job_id", "pipeline_id", "root_job_id", "chunk_no")


def log_format(default: str = "text") -> str:
    """``CARBON_LOG_FORMAT`` (json or text); ``default`` when unset or unknown."""
    value = os.environ.get("CARBON_LOG_FORMAT", "").strip().lower()
    return value if value in FORMATS else default


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context's fields, extras."""

    _STD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message", "asctime", "taskName", "data"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = fields.get()
        if ctx:
            out.update(ctx)
        for key, value in vars(record).items():
            if key not in self._STD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def task_fields(task: Any, task_id: str, args: Any, kwargs: Any) -> dict[str, Any]:
    """The task's id and name, and the job / pipeline ids among its arguments."""
    out: dict[str, Any] = {"task_id": task_id, "task": getattr(task, "name", None)}
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
        given = dict(bound.arguments)
    except (TypeError, ValueError):
        given = dict(kwargs or {})
    for key in _TASK_KEYS:
        if given.get(key) is not None:
            out[key] = given[key]
    return out


@signals.task_prerun.connect
def _bind_task(task_id: str | None = None, task: Any = None, args: Any = None,
               kwargs: Any = None, **_: Any) -> None:
    fields.set(task_fields(task, task_id or "", args, kwargs))


@signals.task_postrun.connect
def _unbind_task(**_: Any) -> None:
    fields.set(None)


def _json_handlers(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())


@signals.after_setup_logger.connect
def _worker_logger(logger: logging.Logger | None = None, **_: Any) -> None:
    """A worker set up logging in this process: its handlers print every record from now
    on, so the API's own handler on ``carbon`` (same process: ``carbon demo --serve``, the
    test harness) would write each line twice."""
    carbon = logging.getLogger("carbon")
    for handler in [h for h in carbon.handlers if getattr(h, "_carbon_handler", False)]:
        carbon.removeHandler(handler)
    if logger is not None and log_format() == "json":
        _json_handlers(logger)


@signals.after_setup_task_logger.connect
def _worker_task_logger(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is not None and log_format() == "json":
        _json_handlers(logger)
