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


# One interpreter preloads the third-party packages the modules import (no carbon_* module),
# then forks one child per module that imports just that module: isolation as a fresh
# interpreter gives it for our own modules, at ~0.05 s a module instead of ~0.6 s
# (72 s → ~12 s on 2 cores, children in parallel).
_RUNNER = r"""
import ast, os, sys, traceback
from pathlib import Path
root, modules = Path(sys.argv[1]), sys.argv[2:]
third = set()
for pkg in ("carbon_domain", "carbon_tasks", "carbon_api"):
    for path in (root / pkg).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                third.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                third.add(node.module)
for name in sorted(third):
    top = name.split(".")[0]
    local = (root / f"{top}.py").exists() or (root / top).is_dir()  # e.g. celeryconfig
    if not local and top != "__future__":
        try:
            __import__(name)
        except Exception:
            pass  # an optional dependency: the child reports it if a module needs it
ours = sorted(m for m in sys.modules if m.startswith("carbon_"))
if ours:
    print("PRELOADED", ours); sys.exit(3)
failed, running = 0, {}
def reap():
    global failed
    pid, status = os.wait()
    if status:
        failed += 1
        print("EXIT", running[pid], status, flush=True)
    del running[pid]
for m in modules:
    if len(running) >= (os.cpu_count() or 1):
        reap()
    pid = os.fork()
    if pid == 0:
        try:
            __import__(m)
        except BaseException:
            # One write(2) per line: forked siblings share stdout, and print()'s separate
            # writes interleaved ("FAILFAIL carbon_tasks.a ...") under load.
            last = traceback.format_exc().strip().splitlines()[-1][:400]
            os.write(1, f"FAIL {m} {last}\n".encode())
            os._exit(1)
        os._exit(0)
    running[pid] = m
while running:
    reap()
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_in_isolation() -> None:
    mods = _modules()
    res = subprocess.run([sys.executable, "-c", _RUNNER, str(ROOT), *mods], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]


def test_the_isolation_check_can_fail(tmp_path: Path) -> None:
    """The runner reports a module that cannot import on its own (a planted cycle whose
    first-loaded half needs a name the other half defines only after importing it back)."""
    for pkg in ("carbon_domain", "carbon_tasks", "carbon_api"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "carbon_tasks" / "a.py").write_text("from carbon_tasks.b import B\nA = 1\n")
    (tmp_path / "carbon_tasks" / "b.py").write_text("from carbon_tasks.a import A\nB = 2\n")
    res = subprocess.run([sys.executable, "-c", _RUNNER, str(tmp_path), "carbon_tasks.a",
                          "carbon_tasks.b"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 1
    assert "FAIL carbon_tasks.a" in res.stdout and "FAIL carbon_tasks.b" in res.stdout


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
