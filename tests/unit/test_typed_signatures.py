"""Services return dataclasses or typed dicts, not ``dict[str, Any]``: a ceiling on how many
function signatures under ``carbon_domain/services`` still say ``dict[str, Any]`` (directly or
through a module-level alias of it, such as ``Meta = dict[str, Any] | None``), and none at all
in the read services.

The ceiling only goes down: when a change removes some, lower ``CEILING`` to the new count.
A JSON document passed through as it is (a job's meta, a module's stats) is typed
``carbon_domain.json_types.JsonObject``, which is JSON, not ``Any``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "carbon_domain" / "services"
READS = SERVICES / "reads"
READS_EXEMPT: set[Path] = set()  # none: every read service returns typed results
# 77 at the start of the count (2026-12-06: 65 written out, 12 through aliases). The 15 left
# are all in services/preview/, written beside this count (the chunked previews' JSON
# partials and figures); they are the next to type.
CEILING = 15

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _is_dict_str_any(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
            and node.value.id in ("dict", "Dict") and isinstance(node.slice, ast.Tuple)
            and len(node.slice.elts) == 2):
        return False
    key, value = node.slice.elts
    return (isinstance(key, ast.Name) and key.id == "str"
            and ((isinstance(value, ast.Name) and value.id == "Any")
                 or (isinstance(value, ast.Attribute) and value.attr == "Any")))


def _parsed(annotation: ast.expr | None) -> ast.AST | None:
    """The annotation, with a string (forward reference) parsed."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return ast.parse(annotation.value, mode="eval").body
    return annotation


def _hits(annotation: ast.expr | None, aliases: set[str]) -> int:
    tree = _parsed(annotation)
    if tree is None:
        return 0
    return sum(1 for n in ast.walk(tree)
               if _is_dict_str_any(n) or (isinstance(n, ast.Name) and n.id in aliases))


def _aliases(tree: ast.Module) -> set[str]:
    """Module-level type aliases whose definition holds ``dict[str, Any]``."""
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and any(_is_dict_str_any(n) for n in ast.walk(value)):
            found.add(target.id)
    return found


def _signature_hits(tree: ast.Module, aliases: set[str]) -> list[tuple[int, str, int]]:
    out = []
    for f in ast.walk(tree):
        if not isinstance(f, Function):
            continue
        a = f.args
        params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, [a.vararg, a.kwarg])]
        n = sum(_hits(p.annotation, aliases) for p in params) + _hits(f.returns, aliases)
        if n:
            out.append((f.lineno, f.name, n))
    return out


def _count(paths: list[Path], root: Path = ROOT) -> dict[str, list[tuple[int, str, int]]]:
    """{path relative to ``root``: [(line, function, uses)]} of the signatures that say it."""
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in paths}
    aliases = set().union(*(_aliases(t) for t in trees.values()))
    found = {}
    for p, tree in trees.items():
        hits = _signature_hits(tree, aliases)
        if hits:
            found[str(p.relative_to(root))] = hits
    return found


def _services() -> list[Path]:
    return sorted(SERVICES.rglob("*.py"))


def _where(found: dict[str, list[tuple[int, str, int]]]) -> str:
    return "\n".join(f"{path}:{line} {name} ({n})" for path, hits in found.items()
                     for line, name, n in hits)


def test_the_counter_sees_direct_nested_quoted_and_aliased_uses(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "import typing\n"
        "from typing import Any\n"
        "Meta = dict[str, Any] | None\n"
        "def a(x: dict[str, Any], *, y: 'list[dict[str, typing.Any]]') -> Meta: ...\n"
        "async def b(**kw: dict[str, int]) -> tuple[dict[str, Any], int]: ...\n"
        "class C:\n"
        "    def c(self, m: Meta) -> dict[str, object]: ...\n")
    assert _count([src], tmp_path) == {"m.py": [(4, "a", 3), (5, "b", 1), (7, "c", 1)]}


def test_service_signatures_stay_under_the_ceiling() -> None:
    found = _count(_services())
    total = sum(n for hits in found.values() for _, _, n in hits)
    assert total <= CEILING, (
        f"{total} service signatures say dict[str, Any] (ceiling {CEILING}): return a "
        f"dataclass or a TypedDict instead\n{_where(found)}")


def test_no_read_service_returns_or_takes_an_untyped_dict() -> None:
    found = _count(_services())
    reads = {p: hits for p, hits in found.items()
             if (ROOT / p).is_relative_to(READS) and ROOT / p not in READS_EXEMPT}
    assert not reads, f"read services with dict[str, Any] in a signature:\n{_where(reads)}"
