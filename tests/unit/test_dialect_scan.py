"""Only ``carbon_domain/db/`` knows which database engine it runs on: services ask the session's
dialect for an operation (``db/dialect``) and never branch on the engine themselves (issue
20 §4: each performance change used to be written twice, in 14 branches over 7 modules)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("carbon_domain", "carbon_tasks", "carbon_api", "bench", "scripts")
DB = ROOT / "carbon_domain" / "db"
# An engine check: the old helper, or the bound engine's dialect name read directly.
CHECK = re.compile(r"\bis_postgres\b|\.dialect\.name\b|get_bind\(\)\.dialect\b")


def _checks(paths: list[Path]) -> list[str]:
    return [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in paths
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
            if CHECK.search(line)]


def test_no_engine_checks_outside_the_db_package() -> None:
    paths = [p for top in SHIPPED for p in sorted((ROOT / top).rglob("*.py"))
             if DB not in p.parents]
    found = _checks(paths)
    assert not found, "ask dialect_of(session) for the operation instead:\n" + "\n".join(found)


def test_the_pattern_finds_the_one_engine_check_there_is() -> None:
    # dialect_of reads the bound engine's dialect name: the pattern must see it, or the test
    # above would pass for any spelling it cannot see.
    found = _checks(sorted(DB.rglob("*.py")))
    assert any("dialect/__init__.py" in f and ".dialect.name" in f for f in found), found
    assert CHECK.search("if bulk.is_postgres(session):")
    assert CHECK.search('return session.get_bind().dialect.name == "postgresql"')
