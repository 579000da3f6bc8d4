"""An upload that skipped rows or ignored a column ends with a WARNING job in a SUCCESS
pipeline. Its stored status stays SUCCESS, but no surface may show it as a plain success:
the console (row, card, Details, counts and filter, the live stream), the API's pipeline JSON
and ``carbon pipelines`` all say "succeeded with warnings", from the one read
(``pipeline_reads``: ``warning_count`` and ``display_status``).

Three real uploads through the real worker: data entries with 5 bad rows, data entries with
an ignored unknown column, a units file with a bad row.
"""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_tasks import operations as ops

from .support import (
    E_HEADER,
    EQUIPMENT,
    IT,
    UNITS_CSV,
    YEAR,
    run,
    seed_equipment,
    sign_in,
)
from .test_console_stream import events

pytestmark = pytest.mark.integration
runner = CliRunner()
WARNED = "SUCCESS_WITH_WARNINGS"


def _warned_uploads() -> dict[str, str]:
    """Clean seed pipelines, then the three uploads that skip or ignore something."""
    seed_equipment(entries_per_type=4, types=(IT,))
    good = "".join(f"UA,W-{i},Laptop {i},Laptop,Standard,10,20\n" for i in range(3))
    bad = "".join(f"UB,X-{i},Broken {i},Laptop,Standard,lots,20\n" for i in range(5))
    skipped = ops.start_upload("data-entries", (E_HEADER + good + bad).encode(),
                               module=EQUIPMENT, det=IT, year=YEAR, created_by="carol")
    extra = ops.start_upload(
        "data-entries", (E_HEADER.rstrip("\n") + ",colour\n" + "".join(
            f"UA,C-{i},Laptop {i},Laptop,Standard,10,20,blue\n" for i in range(2))).encode(),
        module=EQUIPMENT, det=IT, year=YEAR, created_by="carol", allow_unknown_columns=True)
    units = ops.start_upload("units", (UNITS_CSV + "LAB-C,UC,Lab C,eleven,\n").encode(),
                             year=YEAR, created_by="carol")
    out = {"skipped": skipped, "extra": extra, "units": units}
    for name, acc in out.items():
        assert run(acc) == "SUCCESS", name  # the stored status is unchanged
    return {name: str(acc.pipeline_id) for name, acc in out.items()}


def _status_cell(page: str, pid: str) -> str:
    row = page.split(f'id="row-{pid}"', 1)[1].split("</tr>", 1)[0]
    return row.split('data-cell="status">', 1)[1].split("</td>", 1)[0]


def _card_head(card: str) -> str:
    """The card's status line (its phases may well have a ✓: they did succeed)."""
    return card.split('class="head"', 1)[1].split("</div>", 1)[0]


def _counts(page: str) -> dict[str, tuple[int, str]]:
    box = page.split('id="pipeline-counts"', 1)[1].split("</div>", 1)[0]
    return {text: (int(n), html.unescape(href)) for href, text, n in re.findall(
        r'<a class="chip [\w ]+" href="([^"]+)"[^>]*>(?:<span[^>]*>[^<]*</span> )?([^<:]+): '
        r'(\d+)</a>', box)}


def test_the_console_never_calls_a_warned_upload_succeeded(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    ids = _warned_uploads()
    sign_in(http, tokens["operator"])
    page = http.get("/console/pipelines").text
    for name, pid in ids.items():
        cell = _status_cell(page, pid)
        assert "Succeeded with warnings" in cell and "⚠" in cell, (name, cell)
        assert "✓" not in cell and f'chip {WARNED}' in cell, (name, cell)
        assert f'id="row-{pid}" data-row-status="SUCCESS"' in page  # stored status kept
    # The seed (units, factors, entries) succeeded cleanly: "Succeeded" stays theirs.
    counts = _counts(page)
    assert counts["Succeeded with warnings"][0] == 3, counts
    assert counts["Succeeded"][0] == 3, counts
    only_warned = http.get("/console/pipelines" + counts["Succeeded with warnings"][1]).text
    assert set(re.findall(r'id="row-([0-9a-f-]{36})"', only_warned)) == set(ids.values())
    clean = http.get("/console/pipelines" + counts["Succeeded"][1]).text
    clean_ids = set(re.findall(r'id="row-([0-9a-f-]{36})"', clean))
    assert len(clean_ids) == 3 and not clean_ids & set(ids.values())
    assert "Succeeded with warnings" not in clean.split('id="pipeline-counts"', 1)[1]
    # The filter an operator can choose: "Has warnings".
    found = http.get("/console/pipelines", params={"has_warnings": "yes"}).text
    assert set(re.findall(r'id="row-([0-9a-f-]{36})"', found)) == set(ids.values())
    assert '<option value="yes" selected>' in found.split('id="f-warnings"', 1)[1][:400]

    # Details: the card says it too, with the skipped rows (plural right).
    detail = http.get(f"/console/pipelines/{ids['skipped']}").text
    head = _card_head(detail)
    assert "Succeeded with warnings" in head and "✓" not in head, head
    assert "5 rows skipped" in detail and "Row errors" in detail
    units = http.get(f"/console/pipelines/{ids['units']}").text
    assert "Succeeded with warnings" in units and "1 row skipped" in units, units


def test_the_live_stream_says_succeeded_with_warnings(
        http: httpx.Client, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from carbon_domain.settings import get_settings
    monkeypatch.setattr(get_settings(), "sse_poll_seconds", 0.1)
    before = time.time()
    ids = _warned_uploads()
    sign_in(http, tokens["viewer"])
    seen: dict[str, dict[str, Any]] = {}
    for _, _, data in events(http, "/console/events?rows=1",
                             {"Last-Event-ID": f"{before:.3f}"}):
        if data["id"] in ids.values() and data["terminal"]:
            seen[data["id"]] = data
        if len(seen) == len(ids):
            break
    for pid, data in seen.items():
        assert data["status"] == "SUCCESS"
        head = _card_head(data["html"])
        assert "Succeeded with warnings" in head and "✓" not in head, (pid, head)
        assert "Succeeded with warnings" in data["cells"]["status"], pid


def test_the_api_and_the_cli_say_succeeded_with_warnings(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    ids = _warned_uploads()
    auth = {"Authorization": f"Bearer {tokens['viewer']}"}
    listed = http.get("/v1/sync/pipelines", headers=auth).json()
    by_id = {p["pipeline_id"]: p for p in listed["items"]}
    for name, pid in ids.items():
        item = by_id[pid]
        assert item["status"] == "SUCCESS", name  # unchanged
        assert item["display_status"] == WARNED and item["warning_count"] >= 1, (name, item)
        one = http.get(f"/v1/sync/pipelines/{pid}", headers=auth).json()
        assert (one["status"], one["display_status"]) == ("SUCCESS", WARNED), name
    clean = [p for p in listed["items"] if p["pipeline_id"] not in ids.values()]
    assert clean and all(p["display_status"] == "SUCCESS" and p["warning_count"] == 0
                         for p in clean)
    assert listed["counts_by_status"] == {"SUCCESS": 6}  # stored statuses, as before
    assert listed["counts_by_display_status"] == {"SUCCESS": 3, WARNED: 3}
    only = http.get("/v1/sync/pipelines", params={"has_warnings": "true"}, headers=auth).json()
    assert {p["pipeline_id"] for p in only["items"]} == set(ids.values())
    none = http.get("/v1/sync/pipelines", params={"has_warnings": "false"},
                    headers=auth).json()
    assert none["total"] == 3 and not {p["pipeline_id"] for p in none["items"]} & set(
        ids.values())

    # carbon pipelines: the table, the JSON rows, the filter and the counts.
    table = runner.invoke(cli_app, ["pipelines"], env={"COLUMNS": "120"})
    assert table.exit_code == 0, table.stdout
    lines = {line.split()[0]: line for line in table.stdout.splitlines()
             if re.match(r"^[0-9a-f]{8} ", line)}
    assert len(lines) == 6, table.stdout
    for pid, line in lines.items():
        warned = any(i.startswith(pid) for i in ids.values())
        assert ("SUCCESS ⚠ warnings" in line) is warned, table.stdout
    assert "6 pipelines match: SUCCESS 6 (3 with warnings)" in table.stdout, table.stdout
    rows = json.loads(runner.invoke(cli_app, ["pipelines", "--json"]).stdout)
    shown = {r["id"]: r for r in rows}
    for pid in ids.values():
        assert (shown[pid]["status"], shown[pid]["display_status"]) == ("SUCCESS", WARNED)
        assert shown[pid]["warnings"] >= 1
    warned = json.loads(runner.invoke(cli_app, ["pipelines", "--warnings", "--json"]).stdout)
    assert {r["id"] for r in warned} == set(ids.values())
    counts = json.loads(runner.invoke(cli_app, ["pipelines", "--counts", "--json"]).stdout)
    assert counts["counts_by_status"] == {"SUCCESS": 6}
    assert counts["counts_by_display_status"] == {"SUCCESS": 3, WARNED: 3}
