"""One vocabulary (docs/design.md §10): Celery task names and queues are written out only in
``carbon_domain/task_names.py``, upload kinds and upload modes only in
``carbon_domain/upload_kinds.py``; everything else imports them. Written out by hand, one
copy drifts from the others (the CLI once waited on a queue the routes no longer used).

Checked on the syntax tree of every module of ``carbon_api``, ``carbon_tasks``,
``carbon_domain`` and ``celeryconfig.py`` (docstrings and comments may name them):

- a string containing a task name, or a task-name prefix such as ``"carbon.ingest_{}"``;
- a queue name where a queue is meant: a ``"queue"`` dict value, a ``queue``/``queues``
  keyword, ``Queue("…")``, a name holding queues, or a comma-joined queue list;
- the distinctive kinds (``data-entries``, ``building-rooms``, ``exchange-rates``) anywhere;
  ``factors``/``units``/``stations`` where a kind is meant: compared, passed as a kind (first
  argument or ``kind=`` of an upload call), or listed/keyed with another kind;
- ``replace``/``merge`` where a mode is meant: compared, passed or stored as ``mode``, or
  listed together.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from carbon_domain import task_names as tn
from carbon_domain.upload_kinds import UploadKind, UploadMode

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = {"carbon_domain/task_names.py", "carbon_domain/upload_kinds.py"}

TASK_TEXT = re.compile(r"carbon\.(ingest|plan_|recalculat|finish_|refresh_|aggregate_|preview_|"
                       r"reconcile|purge_)")
QUEUES = set(tn.QUEUES)
KINDS = {k.value for k in UploadKind}
DISTINCT_KINDS = {k for k in KINDS if "-" in k}
MODES = {m.value for m in UploadMode}
UPLOAD_CALLS = {"RevertPlan", "SeedFile"}


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and _str(body[0].value) is not None:
                ids.add(id(body[0].value))
    return ids


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _many(values: list[ast.expr], vocabulary: set[str]) -> bool:
    return sum(_str(v) in vocabulary for v in values) >= 2


def findings_in(source: str, name: str = "<string>") -> list[str]:
    tree = ast.parse(source, name)
    docs = _docstrings(tree)
    out: list[str] = []

    def flag(node: ast.AST, what: str) -> None:
        out.append(f"{getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        s = _str(node)
        if s is not None and id(node) not in docs:
            if TASK_TEXT.search(s):
                flag(node, f"task name {s!r} (carbon_domain/task_names.py)")
            if s in DISTINCT_KINDS:
                flag(node, f"upload kind {s!r} (UploadKind)")
            parts = s.split(",")
            if len(parts) >= 2 and all(p.strip() in QUEUES for p in parts):
                flag(node, f"queue list {s!r} (task_names.QUEUES)")
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if _str(k) == "queue" and _str(v) in QUEUES:
                    flag(v, f"queue {_str(v)!r}")
                if _str(k) == "mode" and _str(v) in MODES:
                    flag(v, f"upload mode {_str(v)!r} (UploadMode)")
            if _many([k for k in node.keys if k is not None], KINDS):
                flag(node, "a dict keyed by upload kinds written out")
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            if _many(node.elts, KINDS):
                flag(node, "upload kinds listed by hand")
            if _many(node.elts, MODES):
                flag(node, "upload modes listed by hand")
            if _many(node.elts, QUEUES):
                flag(node, "queues listed by hand")
        elif isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                v = _str(side)
                if v in KINDS or v in MODES:
                    flag(side, f"{v!r} compared by hand")
        elif isinstance(node, ast.Call):
            called = _call_name(node)
            if called == "Queue" and node.args and _str(node.args[0]) in QUEUES:
                flag(node, f"Queue({_str(node.args[0])!r})")
            if ("upload" in called.lower() or called in UPLOAD_CALLS) and node.args \
                    and _str(node.args[0]) in KINDS:
                flag(node, f"upload kind {_str(node.args[0])!r} passed by hand")
            for kw in node.keywords:
                v = _str(kw.value)
                if kw.arg in ("queue", "queues") and v in QUEUES:
                    flag(kw.value, f"queue {v!r} passed by hand")
                if kw.arg == "kind" and v in KINDS:
                    flag(kw.value, f"upload kind {v!r} passed by hand")
                if kw.arg == "mode" and v in MODES:
                    flag(kw.value, f"upload mode {v!r} passed by hand")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and "queue" in t.id.lower() for t in targets) \
                    and _str(node.value) in QUEUES:
                flag(node, f"queue {_str(node.value)!r} assigned by hand")
    return out


def _modules() -> list[Path]:
    paths = [ROOT / "celeryconfig.py"]
    for pkg in ("carbon_api", "carbon_tasks", "carbon_domain"):
        paths += sorted((ROOT / pkg).rglob("*.py"))
    return [p for p in paths if p.relative_to(ROOT).as_posix() not in DEFINITIONS]


def test_the_checker_catches_what_it_looks_for() -> None:
    bad = '''
from celery import Queue
@app.task(name="carbon.reconcile")
def f(kind, mode):
    routes = {"carbon.purge_uploads": {"queue": "default"}}
    task_default_queue = "default"
    queues = (Queue("ingest"), "recalc,finish")
    worker(queues="recalc")
    sig = "carbon.ingest_{}".format(kind)
    if kind == "factors" or kind in ("units", "stations"):
        start_upload("data-entries", b"", mode="merge")
    ok = mode in ("replace", "merge")
    readers = {"stations": 1, "units": 2}
    return {"mode": "replace"}, ReferencePlan(kind="units")
'''
    found = findings_in(bad)
    for what in ("'carbon.reconcile'", "'carbon.purge_uploads'", "queue 'default'",
                 "Queue('ingest')", "'recalc,finish'", "queue 'recalc' passed",
                 "'carbon.ingest_{}'", "'factors' compared", "upload kinds listed",
                 "'data-entries'", "upload mode 'merge' passed", "upload modes listed",
                 "dict keyed by upload kinds", "upload mode 'replace'",
                 "upload kind 'units' passed", "assigned by hand"):
        assert any(what in f for f in found), (what, found)
    good = '''
"""Docstrings may say carbon.ingest_factors, data-entries and queue "recalc"."""
log = logging.getLogger("carbon.api")
router = APIRouter(prefix="/factors", tags=["factors"])
s = "data-entries upload rejected: " + text.replace("a", "b")
rows = {"units": unit_ids}
print("e.g. ingest,default")
'''
    assert findings_in(good) == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_vocabulary_is_written_out_only_where_it_is_defined(path: Path) -> None:
    found = findings_in(path.read_text(encoding="utf-8"), str(path))
    assert not found, (f"{path.relative_to(ROOT)} writes out vocabulary; import it from "
                       "carbon_domain/task_names.py or carbon_domain/upload_kinds.py:\n"
                       + "\n".join(found))


def test_every_task_has_a_queue_and_every_queue_a_task() -> None:
    from carbon_tasks.app import app

    app.loader.import_default_modules()  # what a starting worker does: every task module
    registered = {n for n in app.tasks if n.startswith("carbon.")}
    assert registered == set(tn.TASK_QUEUES)
    assert set(tn.TASK_QUEUES.values()) == QUEUES
    assert {q.name for q in app.conf.task_queues} == QUEUES
    for name, queue in tn.TASK_QUEUES.items():
        assert app.amqp.router.route({}, name)["queue"].name == queue, name
    assert set(tn.UPLOAD_TASKS) == set(UploadKind)
