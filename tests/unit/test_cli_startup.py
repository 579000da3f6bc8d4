"""`carbon --help` and the help of the commands an operator runs most answer without loading
Celery, FastAPI or the database layer: those imports belong inside the commands (start-up
is time the operator waits on every call)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("celery", "kombu", "fastapi", "starlette", "sqlalchemy", "psycopg2", "alembic")

# The child runs the real entry point, then lists what got imported when it exits.
_CHILD = r"""
import atexit, sys
heavy = set(sys.argv[1].split(","))
atexit.register(lambda: print("LOADED", ",".join(sorted(
    {m.split(".")[0] for m in sys.modules} & heavy)), file=sys.stderr))
from carbon_api.cli import app
sys.argv = ["carbon", *sys.argv[2:]]
app()
"""


def loaded_heavy(argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    """The heavy top-level packages `carbon *argv` imported (run in a child; exit code 0)."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, ",".join(HEAVY), *argv],
                          capture_output=True, text=True, timeout=120,
                          env=env or {"COLUMNS": "100", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED")]
    return {m for m in line.removeprefix("LOADED ").split(",") if m}


@pytest.mark.parametrize("argv", [["--help"], ["status", "--help"], ["recalc", "--help"],
                                  ["ingest", "factors", "--help"]])
def test_help_loads_no_heavy_package(argv: list[str]) -> None:
    assert loaded_heavy(argv) == set(), f"`carbon {' '.join(argv)}` imported too much"
