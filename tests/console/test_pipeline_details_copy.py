"""What the Details panel says of a job that covers a whole module: which module. An
aggregation (and a module recalculation's root) has no type; it was labelled "whole module",
which on a page listing every module's pipelines says nothing about which one. And the
counts' "1 pipeline matches" (it said "1 pipeline match")."""

from __future__ import annotations

import re

import httpx
import pytest
from typer.testing import CliRunner

from carbon_api.cli import app as cli_app
from carbon_tasks import operations as ops

from .support import EQUIPMENT, IT, YEAR, run, seed_equipment, sign_in

pytestmark = pytest.mark.integration


def _jobs_table(detail: str) -> list[tuple[str, str]]:
    """(job, type) of each row of the Details panel's jobs table."""
    table = detail.split('aria-label="Jobs"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>\d+</td><td>(.*?)</td><td>(.*?)</td>", table)
    return [(re.sub(r"<[^>]+>", "", job).strip(), kind) for job, kind in rows]


def test_a_whole_module_job_says_which_module(http: httpx.Client,
                                              tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=2, types=(IT,))
    recalc = ops.trigger_module_recalculation(module=EQUIPMENT, year=YEAR, only_stale=False,
                                              created_by="t")
    assert run(recalc) == "SUCCESS"
    sign_in(http, tokens["viewer"])
    detail = http.get(f"/console/pipelines/{recalc.pipeline_id}").text
    jobs = _jobs_table(detail)
    assert ("Module recalculation", "Equipment (whole module)") in jobs, jobs
    assert ("Aggregation", "Equipment (whole module)") in jobs, jobs
    assert ("Type recalculation", "IT") in jobs, jobs
    assert all(kind != "whole module" for _, kind in jobs), jobs
    timeline = detail.split('class="small timeline"', 1)[1].split("</ol>", 1)[0]
    assert re.search(r"Aggregation #\d+ \(Equipment \(whole module\)\) finished SUCCESS",
                     timeline), timeline
    assert "(whole module)" not in timeline.replace("(Equipment (whole module))", "")

    # A units upload belongs to no module: it says so instead of "whole module".
    units = ops.start_upload("units", b"institutional_code,institutional_id,name,level,"
                                      b"parent_institutional_code\nLAB-C,UC,Lab C,4,\n",
                             year=YEAR, created_by="t")
    assert run(units) == "SUCCESS"
    jobs = _jobs_table(http.get(f"/console/pipelines/{units.pipeline_id}").text)
    assert jobs == [("Units upload", "no module")], jobs

    # One pipeline "matches", two "match": on the page and in `carbon pipelines`.
    one = {"kind": "unit_sync", "created_by": "t"}
    page = http.get("/console/pipelines", params=one).text
    assert "<b>1</b> pipeline matches:" in page
    assert "<b>2</b> pipelines match:" in http.get("/console/pipelines",
                                                    params={"created_by": "t"}).text
    out = CliRunner().invoke(cli_app, ["pipelines", "--kind", "unit_sync", "--created-by", "t",
                                       "--counts"]).stdout
    assert "1 pipeline matches: SUCCESS 1" in out, out
