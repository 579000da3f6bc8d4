"""docker/prometheus/alerts.yml: every expression parses (``promtool check rules``), each
alert fires on the series that should raise it (``promtool test rules alerts_test.yml``),
and every metric it names is one the API publishes. The Grafana dashboard names only
published metrics too."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "docker" / "prometheus"
DASHBOARD = ROOT / "docker" / "grafana" / "carbon-pipeline.json"
PUBLISHED = (ROOT / "carbon_api" / "metrics.py").read_text()
_METRIC = re.compile(r"\bcarbon_[a-z_]+")
# Histogram and counter series carry suffixes the source does not spell out.
_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CARBON_REQUIRE_SERVICES") == "1":
            pytest.fail("promtool is not installed (Debian package `prometheus`)")
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    return found


def _published(name: str) -> bool:
    for suffix in ("", *_SUFFIXES):
        if suffix and not name.endswith(suffix):
            continue
        base = name[: len(name) - len(suffix)] if suffix else name
        if f'"{base}"' in PUBLISHED:
            return True
    return False


def test_every_alert_expression_parses() -> None:
    out = subprocess.run([_promtool(), "check", "rules", str(PROM / "alerts.yml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 7 rules found" in out.stdout


def test_alerts_fire_when_they_should() -> None:
    out = subprocess.run([_promtool(), "test", "rules", "alerts_test.yml"], cwd=PROM,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_alerts_and_dashboard_name_published_metrics() -> None:
    names = set(_METRIC.findall((PROM / "alerts.yml").read_text()))
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    assert exprs
    names |= {n for e in exprs for n in _METRIC.findall(e)}
    assert {n for n in names if not _published(n)} == set()
    assert len(names) >= 8
