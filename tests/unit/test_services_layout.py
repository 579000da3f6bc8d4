"""`carbon_domain/services/` is grouped by feature: each subpackage says in its docstring what
it owns and which other services packages it may import, and the imports keep to that (one way,
no cycles between packages); modules stay small; no re-export shims keep old paths alive."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "carbon_domain" / "services"

# What each package may import from the other services packages (the order of the write path:
# jobs < inputs < ingest / recalc < reads < exports; upkeep on top; access alone).
ALLOWED: dict[str, set[str]] = {
    "jobs": set(),
    "access": set(),
    "inputs": {"jobs"},
    "ingest": {"jobs", "inputs"},
    "recalc": {"jobs", "inputs"},
    "reads": {"jobs", "inputs", "recalc"},
    "exports": {"jobs", "inputs", "reads"},
    "preview": {"jobs", "inputs", "ingest", "recalc"},
    "upkeep": {"jobs", "inputs", "ingest", "recalc", "reads"},
}
MAX_LINES = 350


def _packages() -> list[Path]:
    return sorted(p for p in SERVICES.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["carbon_domain", "services"] and len(parts) > 2:
                found.add(parts[2])
    return found


def test_services_are_grouped_in_packages() -> None:
    flat = sorted(p.name for p in SERVICES.glob("*.py") if p.name != "__init__.py")
    assert not flat, f"modules outside a feature package: {flat}"
    assert {p.name for p in _packages()} == set(ALLOWED)


def test_each_package_says_what_it_owns_and_may_import() -> None:
    for pkg in _packages():
        doc = ast.get_docstring(ast.parse((pkg / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{pkg.name}/__init__.py needs a docstring"
        assert "import" in doc.lower(), f"{pkg.name}: say which services packages it may import"


def test_packages_import_one_way() -> None:
    wrong = []
    for pkg in _packages():
        for mod in pkg.glob("*.py"):
            bad = _imported_packages(mod) - ALLOWED[pkg.name] - {pkg.name}
            if bad:
                wrong.append(f"{pkg.name}/{mod.name} imports {sorted(bad)}")
    assert not wrong, "; ".join(wrong)


def test_modules_stay_small() -> None:
    big = [f"{p.relative_to(SERVICES)} ({n})" for p in SERVICES.rglob("*.py")
           if (n := p.read_text(encoding="utf-8").count("\n")) > MAX_LINES]
    assert not big, f"split these (> {MAX_LINES} lines): {big}"


def test_no_reexport_shims() -> None:
    shims = []
    for p in SERVICES.rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        if "re-export" in text and "noqa: F401" in text:
            shims.append(str(p.relative_to(SERVICES)))
        tree = ast.parse(text)
        body = [n for n in tree.body if not (isinstance(n, ast.Expr)
                                             and isinstance(n.value, ast.Constant))]
        if p.name != "__init__.py" and body and all(
                isinstance(n, ast.ImportFrom | ast.Import | ast.Assign) for n in body):
            shims.append(str(p.relative_to(SERVICES)))
    assert not shims, f"re-export shims (import from the defining module instead): {shims}"
