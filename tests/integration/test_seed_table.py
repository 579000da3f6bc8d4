"""`carbon seed`'s tables at 80 columns never break a file name (docs/operating.md: values
are never wrapped or cut).

Before, the file column held the full path and folded: at 80 columns the load table read
`data_entries/32_building_embodied_ene` / `rgy.csv` on two lines. Now each file is named by
its file name under a row naming its folder (`factors/`, `data_entries/`), on one line,
and the table fits 80 columns (a status of `SUCCESS ⚠ warnings` may need up to 90: the
table is then printed that wide, never cut, as every listing, tests/integration/
test_cli_polish.py::test_listings_at_80_columns_never_cut_a_value)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from carbon_api.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()
YEAR = 2025


def _seed80(out: Path, *extra: str) -> Any:
    result = runner.invoke(app, ["seed", "--units", "3", "--entries", "600", "--year",
                                 str(YEAR), "--out", str(out), *extra],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def _whole(table: str, paths: list[str]) -> None:
    """Every file's name on one line, under its folder's row; no line wider than 80."""
    lines = table.splitlines()
    for path in paths:  # the name itself, on one line
        name = path.rpartition("/")[2]
        assert any(name in line.split() or path in [c.strip() for c in line.split("│")]
                   for line in lines), (
            f"{path} is not whole on a line:\n{table}")
    assert "…" not in table, table
    assert max(len(line) for line in lines) <= 80, table
    shown, folder = set(), ""
    for line in lines:
        first = line.split()[0] if line.split() else ""
        if first.endswith("/"):
            folder = first[:-1]
        elif first.endswith(".csv"):
            shown.add(f"{folder}/{first}" if folder else first)
    assert shown == set(paths), f"{set(paths) - shown} not whole on a line:\n{table}"

def test_seed_tables_at_80_columns_never_break_a_file_name(db: str, worker: Any,
                                                           tmp_path: Path) -> None:
    manifest = json.loads(_seed80(tmp_path / "g", "--generate-only", "--json").stdout)
    paths = [f["path"] for f in manifest["manifest"]["files"]]
    assert "data_entries/32_building_embodied_energy.csv" in paths  # the name that broke
    assert max(len(p) for p in paths) > 50  # the full path would not fit beside the numbers

    generated = _seed80(tmp_path / "g", "--generate-only").stdout
    heading, _, table = generated[:generated.index("Generated ")].partition("\n")
    assert "Seed files in" in heading
    _whole(table, paths)
    assert f"Seed files in {tmp_path / 'g'}" in generated  # one line, whatever its length

    loaded = _seed80(tmp_path / "l").stdout
    table = loaded[loaded.index("Loaded through the ingest path"):loaded.index("Generated ")]
    _whole(table, paths)
    rows = [line.split() for line in table.splitlines()]
    assert sum(1 for r in rows if r[-2:-1] == ["SUCCESS"]) == len(paths), table
