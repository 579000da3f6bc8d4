"""`carbon --help` and the help of the commands an operator runs most answer without loading
Celery, FastAPI or the database layer: those imports belong inside the commands (start-up
is time the operator waits on every call)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("celery", "kombu", "fastapi", "starlette", "sqlalchemy", "psycopg2")

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


@pytest.mark.parametrize("argv", [["--help"], ["status", "--help"], ["recalc", "--help"],
                                  ["ingest", "factors", "--help"]])
def test_help_loads_no_heavy_package(argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", _CHILD, ",".join(HEAVY), *argv],
                          capture_output=True, text=True, timeout=120, env={
                              "COLUMNS": "100", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "Usage: carbon" in proc.stdout
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED")]
    assert line == "LOADED ", f"`carbon {' '.join(argv)}` imported {line[7:]}"
