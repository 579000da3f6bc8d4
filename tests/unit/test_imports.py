"""Every carbon_* module imports on its own in a fresh interpreter: no import cycle hides
behind the order other modules happened to load in (issue 13)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules() -> list[str]:
    out = []
    for pkg in ("carbon_domain", "carbon_tasks", "carbon_api"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts[-1] == "__main__":
                continue
            out.append(".".join(parts))
    return out


def test_every_module_imports_in_isolation() -> None:
    # One fresh interpreter per module (~0.5 s each).
    failures = {}
    for m in _modules():
        res = subprocess.run([sys.executable, "-c", f"import {m}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            failures[m] = res.stderr.strip().splitlines()[-1:]
    assert not failures, failures


TASK_MODULES = {"carbon_tasks.recalc", "carbon_tasks.ingest", "carbon_tasks.aggregate",
                "carbon_tasks.reconcile", "carbon_tasks.tasks", "carbon_tasks.workers"}


@pytest.mark.parametrize("path", ["carbon_tasks/pipeline.py", "carbon_tasks/dispatch.py"])
def test_graph_and_outbox_import_no_task_module(path: str) -> None:
    """The graph names tasks (``app.signature("carbon.…")``) instead of importing them: no
    dispatch → pipeline → recalc → dispatch cycle. (The app's autodiscovery still registers
    every task when the app loads; that is Celery's import, not ours.)"""
    tree = ast.parse((ROOT / path).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not imported & TASK_MODULES


def test_no_module_imports_another_modules_private_names() -> None:
    """A leading underscore means "this module's own": what another module needs is given a
    public name where it lives (the console once borrowed the API routes' ``_accept`` and
    ``_stream``; a rename in one file then broke the other)."""
    borrowed = []
    for pkg in ("carbon_domain", "carbon_tasks", "carbon_api"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                        "carbon_"):
                    borrowed += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}"
                                 for a in node.names
                                 if a.name.startswith("_") and not a.name.startswith("__")]
    assert not borrowed, borrowed
