"""One pipeline read, three surfaces: the console's pipelines page, ``GET /v1/sync/pipelines``
and ``carbon pipelines`` give the same counts by status for the same filters (every filter
applied, the status filter too), and the console clamps a page number past the last page.

The history is rows built with the job service (no worker needed): pipelines of every
status, authors, kinds, modules, years and dates (``test_pipelines_console.history``).
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_api.console.pipelines import abort_confirm
from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads import pipeline_reads
from carbon_domain.services.reads.pipeline_console import PipelineFilters
from tests.console.support import sign_in

from . import test_pipelines_console as base
from .api_support import Tokens
from .test_pipelines_console import ERR, OK, T0, make_pipeline

pytestmark = pytest.mark.integration
runner = CliRunner()
client, history = base.client, base.history  # the same fixtures: the app, a history
COUNT = re.compile(r'<a class="chip (\w+)"[^>]*>[^<:]+: (\d+)</a>')

# (API query, console query, CLI options): the same filter spelled by each surface.
CASES: list[tuple[dict[str, Any], dict[str, str], list[str]]] = [
    ({}, {}, []),
    ({"created_by": "alice"}, {"created_by": "alice"}, ["--created-by", "alice"]),
    ({"has_errors": "true"}, {"has_errors": "yes"}, ["--errors"]),
    ({"has_errors": "false"}, {"has_errors": "no"}, ["--no-errors"]),
    ({"kind": "csv_ingest"}, {"kind": "csv_ingest"}, ["--kind", "csv_ingest"]),
    ({"module_type_id": 3}, {"module": "3"}, ["--module", "3"]),
    ({"year": 2024}, {"year": "2024"}, ["--year", "2024"]),
    # The status filter counts too: the console used to count every status here.
    ({"status": "SUCCESS", "created_by": "alice"}, {"status": "SUCCESS", "created_by": "alice"},
     ["--status", "success", "--created-by", "alice"]),
    ({"status": "FAILED", "year": 2025}, {"status": "FAILED", "year": "2025"},
     ["--status", "FAILED", "--year", "2025"]),
    ({"created_after": "2026-01-02T09:00:00", "created_before": "2026-01-05T09:00:00"},
     {"created_after": "2026-01-02T09:00", "created_before": "2026-01-05T09:00"},
     ["--created-after", "2026-01-02T09:00", "--created-before", "2026-01-05T09:00"]),
    ({"created_by": "nobody"}, {"created_by": "nobody"}, ["--created-by", "nobody"]),
]


def console_counts(client: TestClient, query: dict[str, str]) -> tuple[int, dict[str, int]]:
    page = client.get("/console/pipelines", params=query)
    assert page.status_code == 200, page.text
    box = page.text.split('class="counts"', 1)[1].split("</div>", 1)[0]
    total = int(re.search(r"<b>(\d+)</b> pipelines? match", box).group(1))  # type: ignore[union-attr]
    return total, {s: int(n) for s, n in COUNT.findall(box)}


def cli_json(*args: str) -> Any:
    result = runner.invoke(cli_app, ["pipelines", *args, "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_console_api_and_cli_count_alike(client: TestClient, tokens: Tokens,
                                         history: dict[str, uuid.UUID]) -> None:
    sign_in(client, tokens.operator)
    seen = set()
    for api_q, console_q, cli_opts in CASES:
        r = client.get("/v1/sync/pipelines", params=api_q, headers=tokens.view)
        assert r.status_code == 200, r.text
        api = r.json()
        total, counts = console_counts(client, console_q)
        cli = cli_json(*cli_opts, "--counts")
        listed = Counter(p["status"] for p in cli_json(*cli_opts, "--limit", "1000"))
        assert api["counts_by_status"] == counts == cli["counts_by_status"] == dict(listed), \
            api_q
        assert api["total"] == total == cli["total"] == sum(counts.values()), api_q
        seen.add(json.dumps(counts, sort_keys=True))
    assert len(seen) >= 8  # the cases really filter differently


def test_counts_link_to_their_status_and_pages_are_clamped(
        client: TestClient, tokens: Tokens, history: dict[str, uuid.UUID]) -> None:
    sign_in(client, tokens.operator)
    page = client.get("/console/pipelines", params={"created_by": "alice"}).text
    links = dict((s, html.unescape(href)) for href, s in re.findall(
        r'<a class="chip \w+" href="([^"]+)"[^>]*>([^<:]+):', page))
    assert set(links) == {"Succeeded", "Partly failed"}
    assert links["Succeeded"] == "?created_by=alice&status=SUCCESS"
    only = client.get("/console/pipelines" + links["Succeeded"]).text
    assert only.count('data-row-status="SUCCESS"') == 3 and 'data-row-status="PARTIAL"' not in only
    # Past the last page: the last page, not an empty one.
    past = client.get("/console/pipelines", params={"page": 40}).text
    assert "Page 1 of 1" in past and past.count('data-row-status="') == 7
    for _ in range(55):  # 62 pipelines: 2 pages of 50
        make_pipeline(JobType.factor_ingest, 4, 2023, "dave", T0, [(JobType.factor_ingest, *OK)])
    past = client.get("/console/pipelines", params={"page": 9}).text
    assert "Page 2 of 2" in past and past.count('data-row-status="') == 12
    assert re.search(r'href="\?page=1">previous', past)
    with session_scope() as s:
        listing = pipeline_reads.listing_page(s, PipelineFilters(created_by="dave"), page=3,
                                              per_page=50)
    assert (listing.page, listing.pages, len(listing.items), listing.total) == (2, 2, 5, 55)


def test_what_a_run_left_and_what_an_abort_says(client: TestClient) -> None:
    def view(kind: JobType, jobs: list[tuple[JobType, str, str | None]]
             ) -> pipeline_reads.PipelineView:
        pid = make_pipeline(kind, 4, 2025, "erin", T0, jobs)
        with session_scope() as s:
            v = pipeline_reads.view(s, pid)
        assert v is not None
        return v

    recalc, agg, ingest = JobType.emission_recalc, JobType.aggregation, JobType.csv_ingest
    failed_type = view(JobType.module_emission_recalc, [(recalc, *OK), (recalc, *ERR)])
    assert (failed_type.status, failed_type.recoverable_types) == ("PARTIAL", [11])
    failed_agg = view(recalc, [(recalc, *OK), (agg, *ERR)])
    assert (failed_agg.status, failed_agg.recoverable_types) == ("PARTIAL", [10])
    assert view(ingest, [(ingest, *ERR)]).recoverable_types == []  # wrote nothing
    assert view(recalc, [(recalc, *OK), (agg, *OK)]).recoverable_types == []  # SUCCESS
    running = view(recalc, [(recalc, "RUNNING", None)])
    assert running.can_abort and running.recoverable_types == []
    text = abort_confirm(running)
    assert "A full recalculation keeps nothing of its chunks" in text
    assert "an incremental one's chunks already recalculated stay written" in text
    assert "re-runs its types" in text
    uploading = view(ingest, [(ingest, "RUNNING", None)])
    text = abort_confirm(uploading)
    assert "nothing of the file is written" in text and "re-runs" not in text
