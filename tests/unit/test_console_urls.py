"""The console finds its URLs by route name and takes every form through one dependency.

- No template, script or console module writes a ``/console/…`` or ``/v1/…`` path: templates
  and redirects ask ``url_path_for`` (renaming a route cannot leave a dead link), the one
  place the console's path is written is ``web.PREFIX``.
- Every route name a template asks for exists.
- The fragment → page redirects (``fragments.py``) match the paths of the very routes they
  stand for.
- Every state-changing console route (a POST but sign-in) depends on ``OperatorForm`` or, for
  signing out, ``SessionForm``: session, role and CSRF are checked in one place.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CONSOLE = Path(__file__).resolve().parents[2] / "carbon_api" / "console"
HARD_CODED = re.compile(r"(?<![\w.])/(console|v1)(/|\b)")
ALLOWED = {("web.py", "/console")}  # web.PREFIX: the one place


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string literal but docstrings (prose may name a path)."""
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
            yield n.lineno, n.value


@pytest.mark.parametrize("path", sorted(CONSOLE.rglob("*.py")), ids=lambda p: p.name)
def test_no_hard_coded_path_in_console_modules(path: Path) -> None:
    found = [f"{path.name}:{line}: {value!r}" for line, value in _strings(ast.parse(
        path.read_text())) if HARD_CODED.search(value) and (path.name, value) not in ALLOWED]
    assert not found, "build the URL with url_path_for (or from web.PREFIX):\n" + "\n".join(found)


def _templates() -> list[Path]:
    return sorted([*CONSOLE.glob("templates/*.html"), *CONSOLE.glob("static/*.js")])


@pytest.mark.parametrize("path", _templates(), ids=lambda p: p.name)
def test_no_hard_coded_path_in_templates(path: Path) -> None:
    found = [f"{path.name}:{n}: {line.strip()[:120]}"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if HARD_CODED.search(line)]
    assert not found, "use request.app.url_path_for('route name', …):\n" + "\n".join(found)


def test_the_check_sees_a_hard_coded_path() -> None:
    assert HARD_CODED.search('<a href="/console/pipelines?focus={{ p.id }}">')
    assert HARD_CODED.search("POST /v1/sync/units")
    assert not HARD_CODED.search("{{ request.app.url_path_for('pipelines_page') }}")
    tree = ast.parse('"""Docs name /v1/jobs."""\nX = f"/console/data/{year}"\n')
    assert [v for _, v in _strings(tree) if HARD_CODED.search(v)] == ["/console/data/"]


def _app() -> Any:
    from carbon_api.app import create_app

    return create_app()


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) for every route, through included routers."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            ctx = getattr(r, "include_context", None)
            yield from _routes(inner.routes, prefix + (getattr(ctx, "prefix", "") or ""))
        elif hasattr(r, "routes") and not hasattr(r, "endpoint"):  # a Mount
            yield prefix + getattr(r, "path", ""), r
        else:
            yield prefix + r.path, r


def test_every_route_name_a_template_asks_for_exists() -> None:
    names = {getattr(r, "name", None) for _, r in _routes(_app().routes)}
    asked = {m for p in _templates()
             for m in re.findall(r"url_path_for\('([^']+)'", p.read_text())}
    assert len(asked) >= 20
    assert asked <= names, asked - names


def test_fragment_redirects_match_their_routes() -> None:
    from carbon_api.console.fragments import page_of

    app = _app()
    url = app.url_path_for
    pid = "0f2f94a0-ca0b-4352-837a-6c150d35b91d"
    data = url("data_page", year=2025) + "#module-4"
    for fragment, page in (
            (url("module_fragment", year=2025, module=4), data),
            (url("recalc_dialog", year=2025, module=4), data),
            (url("pipeline_detail", pipeline_id=pid), url("pipelines_page") + f"?focus={pid}"),
            (url("workers_panel"), url("pipelines_page"))):
        assert page_of(app, fragment) == page, fragment
    assert page_of(app, url("data_page", year=2025)) is None


def _calls(dependant: Any) -> Iterator[Any]:
    for d in dependant.dependencies:
        yield d.call
        yield from _calls(d)


def test_every_console_post_takes_its_form_through_one_dependency() -> None:
    from carbon_api.console import is_console_path
    from carbon_api.console.forms import OperatorForm, SessionForm

    operator = OperatorForm.__metadata__[0].dependency
    session = SessionForm.__metadata__[0].dependency
    posts = [(path, r) for path, r in _routes(_app().routes)
             if is_console_path(path) and "POST" in (getattr(r, "methods", None) or ())
             and path != "/login"]
    assert len(posts) >= 6
    for path, r in posts:
        calls = set(_calls(r.dependant))
        wanted = session if path == "/logout" else operator
        assert wanted in calls, f"POST {path} does not depend on the console's form dependency"
