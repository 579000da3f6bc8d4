"""Tiny tasks to check a deployment end to end (broker, worker, result backend)."""

from __future__ import annotations

from typing import Any

from carbon_tasks.app import app


@app.task(name="carbon.echo")
def echo(value: Any) -> Any:
    return value


_calls: dict[str, int] = {"collect": 0}


@app.task(name="carbon.collect")
def collect(values: list[int]) -> dict[str, int]:
    _calls["collect"] += 1
    return {"n": len(values), "sum": sum(values), "calls": _calls["collect"]}
