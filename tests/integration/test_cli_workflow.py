"""The operator workflow commands (``carbon_api/cli/workflow.py``): ingest, recalc, status,
jobs, pipelines, wait, abort, reconcile.

Every command has its happy path (checked in the database, and through ``--json`` where the
values matter) and a user error: one line on stderr, a non-zero exit, no traceback, and
nothing written. Commands run in-process through CliRunner and see conftest's environment:
the PostgreSQL test database and the Redis broker the ``worker`` fixture consumes. Against
Redis a command returns right after dispatch, hence ``--wait`` on ingest and recalc.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from carbon_api.cli import app
from carbon_domain.db.models import (
    DataEntry,
    ExchangeRate,
    Factor,
    Pipeline,
    Station,
    Unit,
    UploadedFile,
)
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope

from .api_support import row_counts, wait_idle
from .helpers import (
    UNITS_CSV,
    count,
    emissions,
    jobs_of,
    module_stats,
    no_worker,
    wait_pipeline,
)
from .test_ops_cli import assert_one_line_error
from .test_pipeline_guarantees import EQUIP_FACTORS, _hold_module_lock, equip_entries, upload

pytestmark = pytest.mark.integration
YEAR = 2025  # the year _hold_module_lock locks
ENTRIES = 10  # it entries: odd rows belong to LAB-A (5 of them)
# (40 h × 100 W + 128 h × 10 W) × 52 weeks / 1000 per kg CO2eq/kWh: one laptop's kWh.
LAPTOP_KWH = (40 * 100 + 128 * 10) * 52 / 1000
runner = CliRunner()


# ------------------------------------------------------------------------------------ helpers

def carbon(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def ok(*args: str | Path) -> Result:
    result = carbon(*args)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr,
                                   result.exception)
    assert "Traceback" not in result.stderr
    return result


def flat(text: str) -> str:
    """Human output with Rich's line wrapping undone."""
    return " ".join(text.split())


def ok_json(*args: str | Path) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def fails(args: list[str | Path], *fragments: str) -> str:
    """A user error: one line on stderr naming ``fragments``, non-zero exit, no traceback
    (also none swallowed by the runner), nothing on stdout."""
    result = carbon(*args)
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, repr(result.stderr)  # not even a blank line
    return assert_one_line_error(result.exit_code, result.stderr, *fragments)


def written() -> dict[str, int]:
    """Rows of every table a command of this module could write."""
    return {**row_counts(), "stations": count(Station), "exchange_rates": count(ExchangeRate)}


def csv_file(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def type_status(rows: list[dict[str, Any]], module: int, det: int) -> dict[str, Any]:
    (m,) = [m for m in rows if m["module_type_id"] == module]
    (t,) = [t for t in m["data_entry_types"] if t["data_entry_type_id"] == det]
    return t


def settle() -> None:
    """Until no job and no task of this test is left on the worker."""
    from carbon_tasks.app import app as celery_app

    wait_idle()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        active = celery_app.control.inspect(timeout=0.5).active() or {}
        if not any(t["name"].startswith("carbon.") for ts in active.values() for t in ts):
            return
        time.sleep(0.1)


@pytest.fixture
def it_year(db: str, worker: Any) -> int:
    """Units, equipment factors (ef 0.1) and 10 it entries for YEAR, through the ops layer."""
    upload("units", UNITS_CSV, year=YEAR)
    upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=4, year=YEAR)
    upload("data-entries", equip_entries(ENTRIES, "it", "Laptop", "Standard"), module=4,
           det=11, year=YEAR)
    return YEAR


# ------------------------------------------------------------------------------------ ingest

class TestIngest:
    def test_units_factors_and_data_entries(self, db: str, worker: Any,
                                            tmp_path: Path) -> None:
        units = csv_file(tmp_path, "units.csv", UNITS_CSV)
        out = ok_json("ingest", "units", units, "--year", YEAR, "--wait")
        assert out["pipeline_status"] == "SUCCESS"
        assert isinstance(out["job_id"], int) and uuid.UUID(out["pipeline_id"])
        assert "units upload accepted" in out["message"]
        assert count(Unit) >= 2
        with session_scope() as s:
            codes = set(s.scalars(select(Unit.institutional_code)))
        assert {"LAB-A", "LAB-B"} <= codes

        factors = csv_file(tmp_path, "factors.csv", EQUIP_FACTORS.format(ef="0.1"))
        out = ok_json("ingest", "factors", factors, "--module", "equipment", "--year", YEAR,
                      "--wait")
        assert out["pipeline_status"] == "SUCCESS"
        with session_scope() as s:
            assert s.scalar(select(func.count()).select_from(Factor).where(
                Factor.data_entry_type_id.in_((10, 11, 12)))) == 3

        entries = csv_file(tmp_path, "it.csv", equip_entries(ENTRIES, "it", "Laptop",
                                                             "Standard"))
        # Human output: the acceptance line and the final status on stdout.
        result = ok("ingest", "data-entries", entries, "-m", "4", "-d", "it", "-y", YEAR,
                    "--wait")
        assert "data-entries upload accepted" in flat(result.stdout)
        assert "pipeline SUCCESS" in flat(result.stdout)
        with session_scope() as s:
            assert s.scalar(select(func.count()).select_from(DataEntry).where(
                DataEntry.data_entry_type_id == 11)) == ENTRIES
        kgs = [r[3] for r in emissions(11)]
        assert len(kgs) == ENTRIES and all(k == pytest.approx(LAPTOP_KWH * 0.1) for k in kgs)
        stats = module_stats("LAB-A", 4, YEAR)
        assert stats["entry_count"] == ENTRIES // 2
        assert stats["total"] == pytest.approx(ENTRIES // 2 * LAPTOP_KWH * 0.1)
        assert count(UploadedFile) == 3

    def test_an_upload_that_skipped_rows_ends_succeeded_with_warnings(
            self, it_year: int, tmp_path: Path) -> None:
        """`--wait` ended with "pipeline SUCCESS" (green) for an upload that skipped rows,
        the only hint a line on stderr: a script or an operator could not tell it from a
        clean run. The end says what every surface says; the exit code stays 0."""
        body = equip_entries(3, "it", "Laptop", "Standard") + "UA,it,BAD,Bad,Laptop,,x,128\n"
        entries = csv_file(tmp_path, "it.csv", body)
        result = ok("ingest", "data-entries", entries, "-m", "4", "-d", "it", "-y", YEAR,
                    "--wait")
        assert "pipeline SUCCESS with warnings: 1 job ended WARNING" in flat(result.stdout)
        out = ok_json("ingest", "data-entries", entries, "-m", "4", "-d", "it", "-y", YEAR,
                      "--wait")
        assert (out["pipeline_status"], out["pipeline_display_status"],
                out["pipeline_warnings"]) == ("SUCCESS", "SUCCESS_WITH_WARNINGS", 1)
        # `carbon wait` ends the same way.
        pid = out["pipeline_id"]
        assert ok_json("wait", pid) == {"pipeline_id": pid, "status": "SUCCESS",
                                        "display_status": "SUCCESS_WITH_WARNINGS",
                                        "warnings": 1}
        assert f"pipeline {pid}: SUCCESS with warnings: 1 job ended WARNING" in flat(
            ok("wait", pid).stdout)
        clean = csv_file(tmp_path, "clean.csv", equip_entries(3, "it", "Laptop", "Standard"))
        out = ok_json("ingest", "data-entries", clean, "-m", "4", "-d", "it", "-y", YEAR,
                      "--wait")
        assert (out["pipeline_display_status"], out["pipeline_warnings"]) == ("SUCCESS", 0)

    def test_reference_exchange_rates(self, db: str, worker: Any, tmp_path: Path) -> None:
        rates = csv_file(tmp_path, "rates.csv",
                         "year,currency,rate_to_eur\n2025,chf,1.05\n2025,usd,0.9\n")
        out = ok_json("ingest", "reference", "exchange-rates", rates, "--wait")
        assert out["pipeline_status"] == "SUCCESS"
        with session_scope() as s:
            got = {(r.year, r.currency): float(r.rate_to_eur)
                   for r in s.scalars(select(ExchangeRate).where(ExchangeRate.year == 2025))}
        assert got == {(2025, "chf"): 1.05, (2025, "usd"): 0.9}
        (job,) = jobs_of(out["pipeline_id"])
        assert (job.job_type, job.state, job.result) == ("reference_ingest", "FINISHED",
                                                         "SUCCESS")

    def test_a_file_of_bad_rows_fails_the_pipeline_with_exit_2(
            self, db: str, worker: Any, tmp_path: Path) -> None:
        bad = csv_file(tmp_path, "bad.csv", "equipment_category,equipment_class,sub_class,"
                       "active_power_w,ef_kg_co2eq_per_kwh\nit,Laptop,Standard,-5,0.1\n")
        result = carbon("ingest", "factors", bad, "-m", "equipment", "-y", YEAR, "--wait",
                        "--json")
        assert result.exit_code == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert json.loads(result.stdout)["pipeline_status"] == "FAILED"
        assert count(Factor) == 0

    @pytest.mark.parametrize("command", [
        ["ingest", "factors", "{missing}", "-m", "equipment", "-y", "2025"],
        ["ingest", "data-entries", "{missing}", "-m", "equipment", "-d", "it", "-y", "2025"],
        ["ingest", "units", "{missing}", "-y", "2025"],
        ["ingest", "reference", "stations", "{missing}"],
    ], ids=["factors", "data-entries", "units", "reference"])
    def test_missing_file(self, db: str, tmp_path: Path, command: list[str]) -> None:
        missing = tmp_path / "nope.csv"
        before = written()
        fails([a.format(missing=missing) for a in command], "no such file", str(missing))
        assert written() == before

    def test_unknown_module(self, db: str, tmp_path: Path) -> None:
        f = csv_file(tmp_path, "f.csv", EQUIP_FACTORS.format(ef="0.1"))
        fails(["ingest", "factors", f, "-m", "kitchen", "-y", "2025"],
              "unknown module 'kitchen'", "4=equipment")

    def test_data_entry_type_not_in_module(self, db: str, tmp_path: Path) -> None:
        f = csv_file(tmp_path, "e.csv", equip_entries(2, "it", "Laptop", "Standard"))
        fails(["ingest", "data-entries", f, "-m", "buildings", "-d", "it", "-y", "2025"],
              "data entry type 11 (it) does not belong to module 3 (buildings)")

    @pytest.mark.parametrize("year", ["1999", "2101"])
    def test_year_out_of_range(self, db: str, tmp_path: Path, year: str) -> None:
        f = csv_file(tmp_path, "u.csv", UNITS_CSV)
        before = written()
        fails(["ingest", "units", f, "--year", year], f"--year {year}", "2000-2100")
        assert written() == before

    @pytest.mark.parametrize(("command", "body", "column"), [
        (["ingest", "factors", "{f}", "-m", "equipment", "-d", "it", "-y", "2025"],
         "equipment_class,sub_class,active_power_w,standby_power_w\nLaptop,Standard,100,10\n",
         "ef_kg_co2eq_per_kwh"),
        (["ingest", "data-entries", "{f}", "-m", "equipment", "-d", "it", "-y", "2025"],
         "equipment_class,sub_class,active_usage_hours_per_week\nLaptop,Standard,40\n",
         "unit_institutional_id"),
        (["ingest", "units", "{f}", "-y", "2025"],
         "institutional_code,name\nLAB-A,Lab A\n", "level"),
        (["ingest", "reference", "stations", "{f}"],
         "name,country_code\nLausanne,CH\n", "latitude"),
    ], ids=["factors", "data-entries", "units", "reference"])
    def test_missing_required_column_writes_nothing(
            self, db: str, tmp_path: Path, command: list[str], body: str, column: str) -> None:
        f = csv_file(tmp_path, "in.csv", body)
        before = written()
        line = fails([a.format(f=f) for a in command], column)
        assert "missing" in line.lower()
        assert written() == before  # no upload stored, no pipeline, no job


# ------------------------------------------------------------------------- status and recalc

class TestStatusAndRecalc:
    def test_revised_factors_make_the_module_stale_until_recalculated(
            self, it_year: int, tmp_path: Path) -> None:
        rows = ok_json("status", "--year", YEAR)
        assert [m["module_name"] for m in rows] == ["equipment"]
        assert not type_status(rows, 4, 11)["needs_recalculation"]

        factors = csv_file(tmp_path, "f2.csv", EQUIP_FACTORS.format(ef="0.2"))
        upload_out = ok_json("ingest", "factors", factors, "-m", "equipment", "-y", YEAR,
                             "--wait")
        assert upload_out["pipeline_status"] == "SUCCESS"
        rows = ok_json("status", "--year", YEAR)
        it = type_status(rows, 4, 11)
        assert it["needs_recalculation"] and not it["recalculation_in_progress"]
        assert it["last_input_job_id"] == upload_out["job_id"]
        assert rows[0]["needs_recalculation"]
        table = ok("status", "--year", YEAR).stdout
        assert "Recalculation status 2025" in table
        # The state in the console's words (it said "stale" where every other surface says
        # "needs recalculation").
        assert "⚠ needs recalculation" in table and " stale " not in table
        # Emissions still come from the old factors.
        assert {round(r[3], 6) for r in emissions(11)} == {round(LAPTOP_KWH * 0.1, 6)}

        out = ok_json("recalc", "equipment", "--year", YEAR, "--wait")
        assert out["pipeline_status"] == "SUCCESS"
        assert "it" in out["message"]
        rows = ok_json("status", "--year", YEAR)
        assert not any(t["needs_recalculation"] for m in rows for t in m["data_entry_types"])
        assert type_status(rows, 4, 11)["last_recalculation_job_result"] == "SUCCESS"
        assert {round(r[3], 6) for r in emissions(11)} == {round(LAPTOP_KWH * 0.2, 6)}
        assert module_stats("LAB-A", 4, YEAR)["total"] == pytest.approx(
            ENTRIES // 2 * LAPTOP_KWH * 0.2)

        # Nothing stale any more: a clear refusal, and no new pipeline.
        before = written()
        fails(["recalc", "equipment", "--year", str(YEAR)],
              "No data entry types require recalculation for this module")
        assert written() == before

    def test_recalc_one_type(self, it_year: int) -> None:
        out = ok_json("recalc", "equipment", "it", "--year", YEAR, "--wait")
        assert out["pipeline_status"] == "SUCCESS"
        js = jobs_of(out["pipeline_id"])
        assert [(j.job_type, j.data_entry_type_id, j.result) for j in js] == [
            ("emission_recalc", 11, "SUCCESS"), ("aggregation", None, "SUCCESS")]
        assert js[0].id == out["job_id"]
        assert len(emissions(11)) == ENTRIES

    def test_recalc_errors(self, db: str) -> None:
        before = written()
        fails(["recalc", "buildings", "it", "--year", "2025"], "does not belong to module 3")
        fails(["recalc", "kitchen", "--year", "2025"], "unknown module 'kitchen'")
        fails(["recalc", "equipment", "--year", "1999"], "--year 1999")
        assert written() == before

    def test_status_of_a_year_without_uploads(self, db: str) -> None:
        assert ok_json("status", "--year", "2030") == []
        assert flat(ok("status", "-y", "2030").stdout).startswith(
            "No factor or data uploads for 2030 yet: upload the units for 2030 first")

    def test_status_year_out_of_range(self, db: str) -> None:
        fails(["status", "--year", "2101"], "--year 2101", "out of range")


# ------------------------------------------------------------------------ jobs and pipelines

class TestJobsAndPipelines:
    def test_listing(self, it_year: int) -> None:
        out = ok_json("recalc", "equipment", "it", "--year", YEAR, "--wait")
        pid = out["pipeline_id"]

        jobs = ok_json("jobs", "--pipeline", pid)
        assert [j["job_type"] for j in jobs] == ["aggregation", "emission_recalc"]  # newest 1st
        assert all(j["pipeline_id"] == pid and j["state"] == "FINISHED" for j in jobs)
        rec = jobs[1]
        assert (rec["id"], rec["module_type_id"], rec["data_entry_type_id"], rec["year"],
                rec["result"], rec["created_by"]) == (out["job_id"], 4, 11, YEAR, "SUCCESS",
                                                      "cli")
        assert rec["progress"]["done"] == rec["progress"]["total"] == ENTRIES
        assert len(ok_json("jobs", "--limit", "2")) == 2
        with session_scope() as s:
            finished = s.scalar(select(func.count()).select_from(Job).where(
                Job.state == "FINISHED"))
        assert len(ok_json("jobs", "--state", "finished", "--limit", "1000")) == finished
        assert ok_json("jobs", "--state", "running") == []
        assert ok("jobs", "--state", "running").stdout == "No job in state RUNNING.\n"
        table = ok("jobs", "-p", pid).stdout  # an 80-column table: short cells stay whole
        assert "Jobs" in table and f"\n{out['job_id']} " in table and "SUCCESS" in table

        pipelines = ok_json("pipelines")
        assert len(pipelines) == count(Pipeline) == 4  # units, factors, entries, recalc
        assert pipelines[0]["id"] == pid  # newest first
        assert (pipelines[0]["kind"], pipelines[0]["status"], pipelines[0]["module_type_id"],
                pipelines[0]["year"], pipelines[0]["jobs"], pipelines[0]["errors"]) == (
            "emission_recalc", "SUCCESS", 4, YEAR, 2, 0)
        assert {p["status"] for p in ok_json("pipelines", "--status", "success")} == {"SUCCESS"}
        assert ok_json("pipelines", "--status", "aborted") == []
        table = ok("pipelines", "--limit", "1").stdout
        assert "Pipelines" in table and pid[:8] in table and "SUCCESS" in table

    def test_jobs_before_the_first_upload_say_what_to_do_first(self, db: str) -> None:
        """It printed an empty table (a title and column heads), which said neither that
        nothing had run yet nor what to do about it."""
        first = ("No jobs yet: every job starts with an upload. Upload a year's units first "
                 "(they make its reports): `carbon ingest units FILE -y YEAR`; then its "
                 "factors and data entries: `carbon ingest factors|data-entries FILE -m MODULE "
                 "-y YEAR` (or the console's data page).")
        assert flat(ok("jobs").stdout) == first
        # A filter on an empty database: the same (nothing it could match exists yet).
        assert flat(ok("jobs", "--state", "running").stdout) == first
        assert ok_json("jobs") == []

    def test_pipelines_say_what_a_queued_pipeline_waits_for(self, it_year: int) -> None:
        """The listing said QUEUED and nothing more, while the console's row and the API
        (`waiting_for`) say what it waits for: the broker (its jobs are still in the outbox)
        or a worker; and its counts line said "waiting for a worker" of both."""
        from carbon_domain.services.jobs import jobs as job_service
        from carbon_domain.services.jobs import pipelines
        from carbon_tasks import operations as ops

        # Saved and never sent, as a trigger while the broker is down leaves it.
        with session_scope() as s:
            p = pipelines.create_pipeline(s, kind="emission_recalc", module_type_id=4,
                                          year=YEAR + 1, created_by="outbox")
            job_service.request_recalc(s, pipeline_id=p.id, module_type_id=4,
                                       data_entry_type_id=11, year=YEAR + 1,
                                       created_by="outbox")
            unsent = str(p.id)
        with no_worker():  # on the broker, no worker takes it
            queued = str(ops.trigger_recalculation(module=4, det=11, year=YEAR,
                                                   created_by="t").pipeline_id)
            rows = {r["id"]: r for r in ok_json("pipelines")}
            table = ok("pipelines").stdout
        try:
            assert (rows[unsent]["display_status"], rows[unsent]["waiting_for"]) == (
                "QUEUED", "broker")
            assert (rows[queued]["display_status"], rows[queued]["waiting_for"]) == (
                "QUEUED", "worker")
            assert {r["waiting_for"] for i, r in rows.items() if i not in (unsent, queued)} == {
                None}
            lines = table.splitlines()
            assert f"{unsent[:8]}: queued, not on the broker yet (the reconciler sends it)" in lines
            assert f"{queued[:8]}: queued, waiting for a worker" in lines
            assert lines[-1] == "5 pipelines match: RUNNING 2 (2 queued, not started), SUCCESS 3"
        finally:
            ok("abort", unsent)
        assert wait_pipeline(queued).status == "SUCCESS"
        settle()

    def test_jobs_with_a_malformed_pipeline_id(self, db: str) -> None:
        fails(["jobs", "--pipeline", "not-a-uuid"], "not a pipeline id: 'not-a-uuid'")

    def test_jobs_with_an_unknown_state(self, db: str) -> None:
        fails(["jobs", "--state", "done"], "unknown job state 'done'", "FINISHED")

    def test_pipelines_with_an_unknown_status(self, db: str) -> None:
        fails(["pipelines", "--status", "ok"], "unknown pipeline status 'ok'", "SUCCESS")


# ---------------------------------------------------------------------------------- wait

class TestWait:
    def test_wait_follows_a_dispatched_upload(self, db: str, worker: Any,
                                              tmp_path: Path) -> None:
        units = csv_file(tmp_path, "units.csv", UNITS_CSV)
        out = ok_json("ingest", "units", units, "-y", YEAR)  # --no-wait: back after dispatch
        assert out["pipeline_status"] is None
        pid = out["pipeline_id"]
        assert ok_json("wait", pid) == {"pipeline_id": pid, "status": "SUCCESS",
                                        "display_status": "SUCCESS", "warnings": 0}
        with session_scope() as s:
            assert set(s.scalars(select(Unit.institutional_code))) >= {"LAB-A", "LAB-B"}
        assert f"pipeline {pid}: SUCCESS" in flat(ok("wait", pid).stdout)

    @pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
    def test_wait_errors(self, db: str, as_json: bool) -> None:
        flag = ["--json"] if as_json else []
        fails(["wait", "pipeline-7", *flag], "not a pipeline id: 'pipeline-7'")
        unknown = str(uuid.uuid4())
        fails(["wait", unknown, *flag], f"pipeline {unknown} not found")


# ---------------------------------------------------------------------------------- abort

class TestAbort:
    def test_abort_a_running_recalculation(self, it_year: int) -> None:
        release, held = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_module_lock, args=(4, release, held))
        holder.start()
        try:
            assert held.wait(10)
            out = ok_json("recalc", "equipment", "--all", "--year", YEAR)
            pid = out["pipeline_id"]
            deadline = time.monotonic() + 20
            while not any(j.state == "RUNNING" and j.job_type == "emission_recalc"
                          for j in jobs_of(pid)):
                assert time.monotonic() < deadline, [(j.job_type, j.state) for j in jobs_of(pid)]
                time.sleep(0.05)
            # Held by the lock: waiting gives up with one line, not a traceback.
            fails(["wait", pid, "--timeout", "1", "--json"], "still RUNNING after 1 s")
            active = {j.id for j in jobs_of(pid) if j.state != "FINISHED"}
            aborted = ok_json("abort", pid)
        finally:
            release.set()
            holder.join()
        assert aborted["pipeline_id"] == pid and aborted["aborted_by"] == "cli"
        assert set(aborted["aborted_job_ids"]) == active
        assert len(active) == 4  # the module job and its 3 type recalculations
        assert wait_pipeline(pid).status == "ABORTED"
        js = jobs_of(pid)
        assert all(j.state == "FINISHED" and j.result == "ERROR" and j.meta.get("aborted")
                   for j in js)
        assert "Aborted by cli" in {j.status_message for j in js}
        settle()
        # Following an aborted pipeline ends with exit code 2.
        result = carbon("wait", pid, "--json")
        assert result.exit_code == 2, result.stderr
        assert json.loads(result.stdout) == {"pipeline_id": pid, "status": "ABORTED",
                                             "display_status": "ABORTED", "warnings": 0}
        # Aborting again has nothing left to abort.
        result = ok("abort", pid)
        assert f"aborted 0 jobs of pipeline {pid}" in flat(result.stderr)

    def test_abort_errors(self, db: str) -> None:
        fails(["abort", "12", "--json"], "not a pipeline id: '12'")
        unknown = str(uuid.uuid4())
        fails(["abort", unknown], f"pipeline {unknown} not found")
        assert count(Pipeline) == 0


# ------------------------------------------------------------------------------ reconcile

class TestReconcile:
    @staticmethod
    def _orphan_in_the_outbox() -> str:
        """A recalculation committed and never sent (what a trigger that died after its
        commit leaves): its pipeline's id."""
        from carbon_domain.services.jobs import jobs as job_service
        from carbon_domain.services.jobs import pipelines

        with session_scope() as s:
            p = pipelines.create_pipeline(s, kind="emission_recalc", module_type_id=4,
                                          year=YEAR, created_by="outbox")
            job_service.request_recalc(s, pipeline_id=p.id, module_type_id=4,
                                       data_entry_type_id=11, year=YEAR, created_by="outbox")
            return str(p.id)

    def test_reconcile_dispatches_an_orphaned_job(self, it_year: int) -> None:
        pid = self._orphan_in_the_outbox()
        summary = ok_json("reconcile")
        assert summary["outbox"] == 1
        assert {"lost", "retried", "gave_up", "pipelines_closed"} <= set(summary)
        assert wait_pipeline(pid).status == "SUCCESS"
        assert [(j.job_type, j.result) for j in jobs_of(pid)] == [
            ("emission_recalc", "SUCCESS"), ("aggregation", "SUCCESS")]
        settle()
        assert flat(ok("reconcile").stdout) == (
            "Nothing to repair: no job left in the outbox, lost or stuck, no module "
            "recalculation or pipeline to close, no aggregation missing.")

    def test_reconcile_says_what_it_repaired_and_what_it_could_not_send(
            self, it_year: int) -> None:
        """It printed the task's dict ({'outbox': 1, 'lost': 0, …}), and the same dict with
        a 'dispatch_error' key, exit 0, when the broker did not take what it had to send."""
        from .test_ops_cli import child_env, free_port, run_carbon

        pid = self._orphan_in_the_outbox()
        one_in_the_outbox = [
            "Reconciler pass:",
            "  jobs left in the outbox (saved, never sent to the broker)     1",
            "  jobs lost on the broker (sent, never taken), queued again     0",
            "  stuck jobs (RUNNING, no sign of life) run again               0",
            "  stuck jobs out of attempts, ended ERROR                       0",
            "  module recalculations closed (all their types done)           0",
            "  pipelines whose status it settled                             0",
            "  missing aggregations started                                  0",
        ]
        # The broker down (a closed port): what it found, and one line on what it could not.
        down = f"redis://127.0.0.1:{free_port()}/0"
        proc = run_carbon("reconcile", env=child_env(CELERY_BROKER_URL=down,
                                                     CELERY_RESULT_BACKEND=down))
        assert proc.stdout.splitlines() == one_in_the_outbox
        assert_one_line_error(proc.returncode, proc.stderr,
                              "the broker did not take the jobs to send (",
                              "): they stay in the outbox, and the next pass sends them once "
                              "it answers")
        assert proc.returncode == 1
        assert [j.state for j in jobs_of(pid)] == ["NOT_STARTED"]
        # The broker up: the same job found again, and sent this time.
        assert ok("reconcile").stdout.splitlines() == one_in_the_outbox
        assert wait_pipeline(pid).status == "SUCCESS"
        settle()

    def test_reconcile_against_an_unreachable_database(self, db: str) -> None:
        # reconcile takes no input: its user error is a wrong CARBON_DATABASE_URL, which needs
        # another environment, hence a subprocess.
        from .test_ops_cli import child_env, run_carbon

        proc = run_carbon("reconcile", "--json", env=child_env(
            CARBON_DATABASE_URL="postgresql+psycopg2://carbon:s3cret@127.0.0.1:1/carbon"))
        line = assert_one_line_error(proc.returncode, proc.stderr, "cannot reach database at",
                                     "127.0.0.1:1")
        assert "s3cret" not in line and proc.stdout == ""



def test_an_empty_year_says_what_to_upload_first(db: str, worker: Any) -> None:
    """A new operator's first commands, as they run them (``carbon`` as a child process),
    on a year with nothing: each says what is missing and what to upload first, in the
    order the uploads need. They said "No factor or data uploads for 2030 yet.", "Nothing to
    recalculate for 2030: no factors and no entries for 2030" and "no carbon reports for
    year 2030", and left it there."""
    from .test_ops_cli import run_carbon

    units_first = "upload the units for 2030 first (they make its reports), then factors"
    r = run_carbon("status", "-y", "2030")
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stdout.split())
    assert said.startswith("No factor or data uploads for 2030 yet: " + units_first), said
    assert "carbon ingest units|factors|data-entries FILE -y 2030" in said
    r = run_carbon("recalc", "equipment", "-y", "2030")
    assert_one_line_error(r.returncode, r.stderr, "no factors and no entries for 2030",
                          units_first)
    r = run_carbon("export", "results", "-y", "2030", "-o", "/tmp/never-written.csv")
    assert_one_line_error(r.returncode, r.stderr, "no carbon reports for year 2030",
                          units_first)
    # The units are there: the factors come next, then the entries.
    upload("units", UNITS_CSV, year=2030)
    r = run_carbon("status", "-y", "2030")
    assert "yet: upload factors for 2030, then data entries" in " ".join(r.stdout.split())
    upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=4, year=2030)
    r = run_carbon("recalc", "equipment", "-y", "2030")
    assert_one_line_error(r.returncode, r.stderr,
                          "no entries for 2030 (only factors); upload data entries for 2030")
