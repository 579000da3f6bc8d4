"""Tiny tasks that check the test harness end to end (broker, in-process worker, result
backend, chords). Registered on the app by the ``celery_app_real`` fixture; production
workers never see them."""

from __future__ import annotations

from typing import Any

from carbon_tasks.app import app


@app.task(name="tests.echo")
def echo(value: Any) -> Any:
    return value


_calls: dict[str, int] = {"collect": 0}


@app.task(name="tests.collect")
def collect(values: list[int]) -> dict[str, int]:
    _calls["collect"] += 1
    return {"n": len(values), "sum": sum(values), "calls": _calls["collect"]}
