"""A data entry file's preview says how many of the entries it loads no factor matches.

Before: `carbon revert JOB --preview` of a data entry upload, and `carbon ingest
data-entries … --preview`, printed "no entry loses its factor" and no count of the new
entries without a factor, though the figures had `without_factor: 2` (a data entry upload
replaces the entries, so none "loses" a factor: the losing count is always 0). Now the
CLI's text, the preview job's message and the API's figures say "2 entries without a
matching factor (they will have no emission rows)"; the console's panel says it too
(tests/browser/test_preview_entries_browser.py). PostgreSQL and a real worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbon_api.cli import app as cli

from .api_support import Tokens
from .helpers import UNITS_CSV
from .test_revert_upload import ENTRIES, YEAR, _csv, _upload

pytestmark = pytest.mark.integration
HEADER = ENTRIES.splitlines()[0]
BASE = {("Laptop", ""): 0.1, ("Desktop", ""): 0.2, ("Monitor", ""): 0.3}
# A Tablet and a Phone: no factor of BASE matches them.
UNMATCHED = HEADER + "\n" + "".join(
    f"U{'AB'[i % 2]},IT-{i},{c} {i},{c},,{10 + i},20\n"
    for i, c in enumerate(["Laptop", "Tablet", "Monitor", "Phone", "Laptop"]))
MATCHED = HEADER + "\n" + "".join(
    f"U{'AB'[i % 2]},IT-{i},{c} {i},{c},,{10 + i},20\n"
    for i, c in enumerate(["Laptop", "Desktop", "Monitor"]))
SAID = "2 entries without a matching factor (they will have no emission rows)"


def _words(text: str) -> str:
    return " ".join(text.split())


def _cli(*args: str) -> Any:
    out = CliRunner().invoke(cli, list(args))
    assert out.exit_code == 0, (out.stdout, out.stderr, out.exception)
    return out


def _unmatched_then_matched() -> int:
    """The unmatched file, then the matched one: the latter's revert restores the former."""
    _upload("units", UNITS_CSV)
    _upload("factors", _csv(BASE), module=4, det=11)
    _upload("data-entries", UNMATCHED, module=4, det=11)
    return _upload("data-entries", MATCHED, module=4, det=11)


def test_data_entry_previews_say_the_entries_without_a_factor(
        api: TestClient, tokens: Tokens, tmp_path: Path) -> None:
    job = _unmatched_then_matched()

    text = _words(_cli("revert", str(job), "--preview").stdout)
    assert SAID in text, text
    assert "no entry loses its factor" not in text
    assert "without factor" in text  # the entries table's column

    got = json.loads(_cli("revert", str(job), "--preview", "--json").stdout)
    assert got["kind"] == "data-entries" and got["reverts_job_id"] == job
    (types,) = got["figures"]["entries"]
    assert (types["without_factor"], types["losing_factor"]) == (2, 0)
    assert SAID in got["message"]  # the preview job's message (pipeline card, carbon jobs)
    api_view = api.get(f"/v1/sync/previews/{got['preview_id']}", headers=tokens.view).json()
    assert api_view["figures"]["entries"] == got["figures"]["entries"]
    assert SAID in api_view["message"]

    f = tmp_path / "unmatched.csv"
    f.write_text(UNMATCHED)
    text = _words(_cli("ingest", "data-entries", str(f), "--module", "4", "--det", "11",
                       "--year", str(YEAR), "--preview").stdout)
    assert SAID in text and "no entry loses its factor" not in text, text

    f.write_text(MATCHED)
    text = _words(_cli("ingest", "data-entries", str(f), "--module", "4", "--det", "11",
                       "--year", str(YEAR), "--preview").stdout)
    assert "every entry has a matching factor" in text, text
    assert "without a matching factor (" not in text

    # A factor file's preview is as it was: its entries can lose their factor.
    f.write_text(_csv({("Laptop", ""): 0.1}))
    text = _words(_cli("ingest", "factors", str(f), "--module", "4", "--det", "11",
                       "--year", str(YEAR), "--preview").stdout)
    assert "entries losing their factor" in text and SAID not in text, text
