"""Every code path that writes the factors table also writes the factor's history.

History is written by the application (no trigger a COPY could bypass), so this test finds
the writers: any statement inserting, updating, deleting or copying into ``factors`` in the
shipped code. Each writer must be one of the modules below, whose behaviour tests check the
history rows (tests/unit/services/test_factor_history_sqlite.py,
tests/integration/test_factor_history.py); a new writer fails here until it records history
and is added.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("carbon_domain", "carbon_api", "carbon_tasks", "scripts", "bench")
WRITES = re.compile(
    r"(INSERT\s+INTO\s+factors\b|UPDATE\s+factors\b|DELETE\s+FROM\s+factors\b"
    r"|COPY\s+factors\b|TRUNCATE\s+[^;\"]*\bfactors\b"
    r"|(?:insert|update|delete|sqlite_insert|pg_insert)\(\s*Factor\s*\))", re.IGNORECASE)
# module → what it writes; each records history through services/inputs/factor_history.py.
KNOWN = {
    "carbon_domain/services/inputs/factors.py": "uploads: upsert (COPY + ON CONFLICT / batched), "
                                         "retirement",
    "carbon_domain/services/recalc/facilities.py": "computed facility values",
}


def _writers() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for top in SHIPPED:
        for path in sorted((ROOT / top).rglob("*.py")):
            hits = WRITES.findall(path.read_text())
            if hits:
                out[str(path.relative_to(ROOT))] = hits
    return out


def test_every_factor_writer_is_known_and_records_history() -> None:
    writers = _writers()
    assert set(writers) == set(KNOWN), writers
    for module in writers:
        src = (ROOT / module).read_text()
        assert "factor_history" in src and "history.record" in src, module


def test_the_pattern_finds_the_writes_it_is_meant_to() -> None:
    # The two known modules write factors in these forms: a pattern that stopped matching
    # them would make the test above pass vacuously.
    found = _writers()
    factors, facilities = (found["carbon_domain/services/inputs/factors.py"],
                           found["carbon_domain/services/recalc/facilities.py"])
    assert any("INSERT INTO factors" in h for h in factors)
    assert any(h.startswith("update(") for h in facilities)
