"""What a new user of the ``carbon`` command meets (issue 13, item 7): no library warnings,
listings that fit 80 columns without breaking words and show durations, one-line usage
errors, valid choices in errors and help, `--wait` that says when nothing consumes the queue
and gives up after `--timeout`, job counts from the job rows, and no planning message after
an upload that cannot request a recalculation.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from celery.signals import before_task_publish
from typer.testing import CliRunner

from carbon_api.cli import app
from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.session import session_scope
from carbon_domain.services.jobs import jobs as job_service
from carbon_domain.services.jobs import pipelines
from carbon_tasks import operations as ops

from .helpers import UNITS_CSV, wait_pipeline
from .test_cli_workflow import ENTRIES, YEAR, flat
from .test_ops_cli import assert_one_line_error, child_env
from .test_pipeline_guarantees import EQUIP_FACTORS, equip_entries, upload

pytestmark = pytest.mark.integration
runner = CliRunner()
DURATION = re.compile(r"\d+(\.\d)? s|\d+ m \d\d s|\d+ h \d\d m")


@pytest.fixture
def it_year(db: str, worker: Any) -> int:
    """Units, equipment factors and 10 it entries for YEAR (as test_cli_workflow's)."""
    upload("units", UNITS_CSV, year=YEAR)
    upload("factors", EQUIP_FACTORS.format(ef="0.1"), module=4, year=YEAR)
    upload("data-entries", equip_entries(ENTRIES, "it", "Laptop", "Standard"), module=4,
           det=11, year=YEAR)
    return YEAR


def carbon80(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "80"})


def ok80(*args: Any) -> str:
    result = carbon80(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    lines = result.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, result.stdout
    return str(result.stdout)


def words(text: str) -> set[str]:
    return set(text.split())


# carbon demo prints no Celery warning: asserted on the whole demo in tests/integration/test_demo.py
# (one demo run for both, ~16 s each).


# -------------------------------------------------------------------------------- usage errors

@pytest.mark.parametrize(("args", "fragments"), [
    (["recalc"], ["Missing argument", "carbon recalc --help"]),
    (["recalc", "equipment", "-y", "abc"], ["'--year'", "carbon recalc --help"]),
    (["jobs", "--bogus"], ["No such option: --bogus", "carbon jobs --help"]),
    (["nope"], ["No such command 'nope'"]),
    (["ingest", "factors", "f.csv", "-y", "2025"], ["Missing option '--module'"]),
], ids=["missing-argument", "bad-int", "unknown-option", "unknown-command", "missing-option"])
def test_usage_error_is_one_red_line(args: list[str], fragments: list[str]) -> None:
    result = carbon80(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert_one_line_error(result.exit_code, result.stderr, *fragments)
    assert "╭" not in result.stderr and "Usage:" not in result.stderr


def test_a_group_without_a_command_still_shows_its_help() -> None:
    result = carbon80("ingest")
    assert "Usage: carbon ingest" in result.stdout + result.stderr
    assert "factors" in result.stdout + result.stderr


# ------------------------------------------------------------------- choices in errors / help

def test_unknown_data_entry_type_lists_the_module_types() -> None:
    result = carbon80("recalc", "equipment", "laptops", "-y", YEAR)
    assert_one_line_error(result.exit_code, result.stderr, "unknown data entry type 'laptops'",
                          "10=scientific, 11=it, 12=other")


def test_type_of_another_module_lists_the_module_types(tmp_path: Path) -> None:
    f = tmp_path / "f.csv"
    f.write_text(EQUIP_FACTORS.format(ef="0.1"))
    result = carbon80("ingest", "factors", f, "-m", "equipment", "-d", "plane", "-y", YEAR)
    assert_one_line_error(result.exit_code, result.stderr,
                          "data entry type 20 (plane) does not belong to module 4 (equipment)",
                          "10=scientific, 11=it, 12=other")


@pytest.mark.parametrize("command", [["recalc"], ["ingest", "factors"],
                                     ["ingest", "data-entries"]])
def test_help_lists_modules_and_types(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = flat(result.stdout)
    for name in ("4=equipment", "11=it", "71=mice_and_fish_animal_facilities",
                 "2=professional_travel", "20=plane"):
        assert name in text, name


# ----------------------------------------------------------------------------- 80 columns

def test_listings_fit_80_columns_with_whole_words_and_durations(it_year: int) -> None:
    js = runner.invoke(app, ["jobs", "--json"]).stdout
    import json
    jobs = json.loads(js)
    assert jobs
    table = ok80("jobs")
    cells = words(table)
    for j in jobs:
        assert str(j["id"]) in cells
        assert j["job_type"] in cells  # "emission_recalc", never "emission_r" + "ecalc"
        assert j["result"] in cells  # "SUCCESS", never "FINISHE" + "D"
    assert "took" in cells and len(DURATION.findall(table)) >= len(jobs)

    pipelines = json.loads(runner.invoke(app, ["pipelines", "--json"]).stdout)
    table = ok80("pipelines")
    cells = words(table)
    for p in pipelines:
        assert p["id"][:8] in cells  # a short id, accepted by wait / abort / jobs -p
        assert p["kind"] in cells and p["status"] in cells
        assert p["duration"] and DURATION.fullmatch(p["duration"])
    assert "took" in cells

    table = ok80("status", "-y", YEAR)
    assert {"equipment", "scientific", "it", "other"} <= words(table)


def test_short_pipeline_ids_are_accepted(it_year: int) -> None:
    import json
    (latest, *_) = json.loads(runner.invoke(app, ["pipelines", "--json"]).stdout)
    short = latest["id"][:8]
    result = runner.invoke(app, ["wait", short, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"pipeline_id": latest["id"], "status": "SUCCESS",
                                         "display_status": "SUCCESS", "warnings": 0}
    jobs = json.loads(runner.invoke(app, ["jobs", "-p", short, "--json"]).stdout)
    assert {j["pipeline_id"] for j in jobs} == {latest["id"]}
    result = carbon80("wait", "0000")
    assert_one_line_error(result.exit_code, result.stderr, "no pipeline id starts with '0000'")


def test_a_queued_pipeline_counts_its_job_rows(db: str) -> None:
    """A pipeline whose job was committed but not yet run (the outbox) has 1 job, not 0."""
    import json
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.emission_recalc, module_type_id=4,
                                        year=YEAR, created_by="test")
        job_service.create_job(s, pipeline_id=p.id, job_type=JobType.emission_recalc,
                               target_type=TargetType.DATA_ENTRIES,
                               ingestion_method=IngestionMethod.computed, module_type_id=4,
                               data_entry_type_id=11, year=YEAR, created_by="test")
        pid = str(p.id)
    (row,) = json.loads(runner.invoke(app, ["pipelines", "--json"]).stdout)
    assert (row["id"], row["status"], row["jobs"]) == (pid, "RUNNING", 1)
    line = next(ln for ln in ok80("pipelines").splitlines() if ln.startswith(pid[:8]))
    assert line.split()[5] == "1", line  # id kind status mod year jobs ...


# ------------------------------------------------------------------------ --wait, --timeout

def test_wait_warns_at_once_when_no_worker_consumes_the_queue(it_year: int) -> None:
    """A separate key prefix: the suite's worker does not see this process's messages."""
    import redis

    from carbon_domain.settings import get_settings

    prefix = f"carbon-test-noworker-{uuid.uuid4().hex[:8]}:"
    env = child_env(CARBON_REDIS_KEY_PREFIX=prefix, COLUMNS="200")
    carbon = shutil.which("carbon", path=str(Path(sys.executable).parent)) or "carbon"
    proc = subprocess.run([carbon, "recalc", "equipment", "it", "-y", str(YEAR), "--wait",
                           "--timeout", "2", "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    try:
        assert proc.returncode == 1, proc.stderr
        assert proc.stdout == ""
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 2, proc.stderr
        assert "nothing consumes queue recalc, finish, aggregate" in lines[0]
        assert "carbon worker --queues recalc,finish,aggregate" in lines[0]
        assert "still RUNNING after 2 s" in lines[1] and "carbon wait" in lines[1]
        assert "Traceback" not in proc.stderr
    finally:
        with session_scope() as s:
            from sqlalchemy import select

            from carbon_domain.db.models import DataIngestionJob as Job
            pids = set(s.scalars(select(Job.pipeline_id).where(Job.state != "FINISHED")))
        for pid in pids:
            ops.abort_pipeline(str(pid), "test")
        client = redis.Redis.from_url(get_settings().broker_url)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)


def test_wait_with_a_worker_gives_no_warning(it_year: int) -> None:
    result = runner.invoke(app, ["recalc", "equipment", "it", "-y", str(YEAR), "--wait",
                                 "--timeout", "60", "--json"])
    assert result.exit_code == 0, result.stderr
    assert "nothing consumes" not in result.stderr


def test_wait_has_no_fixed_sleep(it_year: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`recalc --wait` adds no fixed wait to the job: every sleep of the command's own thread
    (following the pipeline, the queue check), and every wait for a change notice (cli/
    follow.py on PostgreSQL), is shorter than 0.2 s. Structural, so load on the machine
    cannot make it pass or fail: a fixed 0.5 s settle or a 1 s poll fails it."""
    import json
    import threading
    import time

    from carbon_domain.db import pipeline_changes

    me, real_sleep, sleeps = threading.get_ident(), time.sleep, []
    real_wait = pipeline_changes.Listener.wait

    def recording_sleep(seconds: float) -> None:
        if threading.get_ident() == me:  # the in-process test worker's threads sleep too
            sleeps.append(seconds)
        real_sleep(seconds)

    def recording_wait(self: pipeline_changes.Listener, seconds: float) -> list[str]:
        if threading.get_ident() == me:
            sleeps.append(seconds)
        return real_wait(self, seconds)

    monkeypatch.setattr(time, "sleep", recording_sleep)
    monkeypatch.setattr(pipeline_changes.Listener, "wait", recording_wait)
    result = runner.invoke(app, ["recalc", "equipment", "it", "-y", str(YEAR), "--wait",
                                 "--timeout", "60", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["pipeline_status"] == "SUCCESS"
    assert sleeps, "the command never waited: it did not follow the pipeline"
    assert max(sleeps) < 0.2, sorted(sleeps)[-5:]


def test_json_wait_reads_the_status_alone(it_year: int) -> None:
    """`recalc … --wait --json` and `wait ID --json` wait for the pipeline's status only: the
    column the pipeline view shows, before and after the end, without importing the view
    (its module and the jobs' reads cost ~0.09 s of a 50k `it` recalculation's wait)."""
    from carbon_domain.services.reads import pipeline_reads

    accepted = ops.trigger_recalculation(module=4, det=11, year=YEAR, created_by="test")
    pid = accepted.pipeline_id
    with session_scope() as s:  # as it stands now, and once the pipeline has ended
        assert pipelines.status_of(s, pid) == pipeline_reads.detail(s, uuid.UUID(pid)).status
    wait_pipeline(pid)
    with session_scope() as s:
        assert pipelines.status_of(s, pid) == pipeline_reads.detail(s, uuid.UUID(pid)).status \
            == "SUCCESS"
        assert pipelines.status_of(s, uuid.uuid4()) is None
    answer, view_loaded = _in_child("recalc", "equipment", "it", "--year", str(YEAR),
                                    "--wait", "--timeout", "60", "--json")
    assert answer["pipeline_status"] == "SUCCESS"
    assert not view_loaded
    # `carbon wait` with a full id, likewise (a prefix needs the reads that resolve it).
    answer, view_loaded = _in_child("wait", pid, "--json")
    assert answer == {"pipeline_id": pid, "status": "SUCCESS", "display_status": "SUCCESS",
                      "warnings": 0}
    assert not view_loaded


def _in_child(*argv: str) -> tuple[Any, bool]:
    """``carbon *argv`` in a fresh interpreter: its JSON answer, and whether it imported the
    pipeline view's module."""
    import json

    probe = (f"import sys; from carbon_api.cli import app; sys.argv = ['carbon', *{argv!r}]\n"
             "try:\n    app()\nexcept SystemExit:\n    pass\n"
             "print('carbon_domain.services.reads.pipeline_reads' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=child_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    *answer, last = out.stdout.strip().splitlines()
    return json.loads("\n".join(answer)), last == "True"


def test_queue_check_returns_once_the_workers_answer(worker: Any) -> None:
    """The check before following ends when the answers cover every queue, not after the
    fixed 1 s broadcast timeout (0.8 s: a check that the fixed wait is gone, not a goal)."""
    import time

    from carbon_tasks.workers import unconsumed_queues

    start = time.monotonic()
    check = unconsumed_queues(["recalc", "finish", "aggregate"], timeout=1.0)
    elapsed = time.monotonic() - start
    assert check.missing == [] and check.answered >= 1, check
    assert elapsed < 0.8, f"queue check took {elapsed:.2f} s"
    # The control: a queue nobody consumes is reported, after the timeout.
    assert unconsumed_queues(["recalc", "no-such-queue"], timeout=0.3).missing == [
        "no-such-queue"]


# ------------------------------------------------------------------- nothing to plan, no message

def test_factor_upload_without_recalculation_sends_no_planning_message(
        db: str, worker: Any) -> None:
    published: list[tuple[str, Any]] = []

    def record(sender: str | None = None, body: Any = None, **_: Any) -> None:
        # (args, kwargs, embed): the plan message names its pipeline in kwargs (it is sent
        # through the outbox after the ingest commits, no longer chained on its result).
        kwargs = body[1] if isinstance(body, (list, tuple)) and len(body) > 1 else {}
        published.append((str(sender), kwargs))

    before_task_publish.connect(record, weak=False)
    try:
        for acc in (ops.start_upload("units", UNITS_CSV.encode(), year=YEAR, created_by="t"),):
            assert wait_pipeline(acc.pipeline_id).status == "SUCCESS"
        plain = ops.start_upload("factors", EQUIP_FACTORS.format(ef="0.1").encode(), module=4,
                                 year=YEAR, recalculate=False, created_by="t")
        assert wait_pipeline(plain.pipeline_id).status == "SUCCESS"
        # The control: with recalculate=True the planner is sent, after the ingest ran.
        again = ops.start_upload("factors", EQUIP_FACTORS.format(ef="0.2").encode(), module=4,
                                 year=YEAR, recalculate=True, created_by="t")
        assert wait_pipeline(again.pipeline_id).status == "SUCCESS"
    finally:
        before_task_publish.disconnect(record)
    plans = [prev for name, prev in published if name == "carbon.plan_recalculation"]
    assert [p.get("pipeline_id") for p in plans] == [again.pipeline_id]
    ingests = [name for name, _ in published if name.startswith("carbon.ingest_")]
    assert ingests == ["carbon.ingest_units", "carbon.ingest_factors", "carbon.ingest_factors"]


# ------------------------------------------------------------- README: aborts and staleness

def test_a_recalculation_aborted_without_new_input_leaves_its_types_fresh(it_year: int) -> None:
    """The README's sentence: only new input makes a type stale, not an aborted rerun."""
    import json
    import threading
    import time

    from .helpers import jobs_of
    from .test_cli_workflow import settle
    from .test_pipeline_guarantees import _hold_module_lock

    def stale() -> list[bool]:
        rows = json.loads(runner.invoke(app, ["status", "-y", str(YEAR), "--json"]).stdout)
        return [t["needs_recalculation"] for m in rows for t in m["data_entry_types"]]

    fresh = runner.invoke(app, ["recalc", "equipment", "--all", "-y", str(YEAR), "--wait"])
    assert fresh.exit_code == 0, fresh.stderr
    assert stale() == [False, False, False]
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_module_lock, args=(4, release, held))
    holder.start()
    try:
        assert held.wait(10)
        out = json.loads(runner.invoke(app, ["recalc", "equipment", "--all", "-y", str(YEAR),
                                             "--json"]).stdout)
        pid = out["pipeline_id"]
        deadline = time.monotonic() + 20
        while not any(j.state == "RUNNING" and j.job_type == "emission_recalc"
                      for j in jobs_of(pid)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert runner.invoke(app, ["abort", pid[:8]]).exit_code == 0
    finally:
        release.set()
        holder.join()
    assert wait_pipeline(pid).status == "ABORTED"
    settle()
    assert stale() == [False, False, False]
    rows = json.loads(runner.invoke(app, ["status", "-y", str(YEAR), "--json"]).stdout)
    assert {t["last_recalculation_job_result"] for m in rows
            for t in m["data_entry_types"]} == {"ERROR"}  # the aborted run is the last one


def test_status_against_the_server_database_loads_no_celery(db: str) -> None:
    """`carbon status` reads the database; the embedded mode's set-up (Celery with every
    task, Alembic) is not loaded against a server database."""
    from tests.unit.test_cli_startup import loaded_heavy

    loaded = loaded_heavy(["status", "-y", str(YEAR), "--json"], env=child_env())
    assert "sqlalchemy" in loaded  # the control: the command did read the database
    assert not loaded & {"celery", "kombu", "alembic"}, loaded


def test_wait_on_an_aborted_pipeline_shows_where_its_jobs_stopped(db: str) -> None:
    """`carbon wait` on an aborted recalculation drew every finished job's bar full
    ("✗ emission_recalc #495: Aborted by walker ━━━ 461/461") while the job had done 225 of
    its 461 entries (`carbon jobs` said 225/461): a job that ended ERROR keeps its own count."""
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.emission_recalc, module_type_id=4,
                                      year=YEAR, created_by="test")
        job = job_service.create_job(
            s, pipeline_id=p.id, job_type=JobType.emission_recalc,
            target_type=TargetType.DATA_ENTRIES, ingestion_method=IngestionMethod.computed,
            module_type_id=4, data_entry_type_id=11, year=YEAR, created_by="test")
        job.progress_done, job.progress_total = 225, 461
        pid = p.id
    with session_scope() as s:
        pipelines.abort_pipeline(s, pid, "walker")
    result = runner.invoke(app, ["wait", str(pid)], env={"COLUMNS": "120"})
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Aborted by walker" in result.stderr
    assert "225/461" in result.stderr, result.stderr
    assert "461/461" not in result.stderr, result.stderr


def test_listings_at_80_columns_never_cut_a_value(db: str) -> None:
    """With real names the columns' values need more than 80 columns: Rich then cut the
    values ('1aec0…', year '2…', 'SUCCESS ⚠ warni…') and cropped the message column's last
    characters on every line, so 'entries: 15 emission rows' read 'entries: 1 emission'.
    Every value and every character of a message is printed."""
    import json
    from datetime import timedelta

    from carbon_domain.db.base import utcnow
    from carbon_domain.db.enums import JobResult, JobState
    message = ("Recalculated 15 mice_and_fish_animal_facilities entries: 15 emission rows, 0"
               " without a matching factor, 0 errors")
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.module_emission_recalc, module_type_id=6,
                                      year=YEAR, created_by="test")
        for job_type, det, result in ((JobType.module_emission_recalc, None, JobResult.SUCCESS),
                                      (JobType.emission_recalc, 71, JobResult.WARNING)):
            job = job_service.create_job(
                s, pipeline_id=p.id, job_type=job_type, target_type=TargetType.DATA_ENTRIES,
                ingestion_method=IngestionMethod.computed, module_type_id=6,
                data_entry_type_id=det, year=YEAR, created_by="test")
            job.state, job.result, job.status_message = JobState.FINISHED, result, message
            job.progress_done = job.progress_total = 1998
            job.finished_at = utcnow()
            job.started_at = job.finished_at - timedelta(seconds=185)  # took "3 m 05 s"
        pid = str(p.id)
    with session_scope() as s:
        pipelines.recompute_pipeline_status(s, p.id)

    table = carbon80("jobs").stdout
    assert "…" not in table, table
    lines = table.splitlines()
    start = next(ln for ln in lines if ln.startswith("id ")).index("message")
    column = "".join(ln[start:].strip() for ln in lines[3:])
    assert column.replace(" ", "") == 2 * message.replace(" ", ""), table
    assert words(table) >= {"module_emission_recalc", "emission_recalc", f"{YEAR}",
                            "1998/1998", "SUCCESS", "WARNING"}, table

    (row,) = json.loads(runner.invoke(app, ["pipelines", "--json"]).stdout)
    assert row["display_status"] == "SUCCESS_WITH_WARNINGS"
    table = carbon80("pipelines").stdout
    assert "…" not in table, table
    assert words(table) >= {pid[:8], "module_emission_recalc", "SUCCESS", "⚠", "warnings",
                            "6", str(YEAR), "2"}, table


def test_wait_at_80_columns_shows_every_jobs_count_and_message(db: str) -> None:
    """A long job message took the whole line and Rich cut the counts after it to '0…'
    ('✓ emission_recalc #571: Recalculated 1537 member entries: 36888 emission rows, 0
    without a mat ━  0…'): the description now wraps, the count and the time stay whole."""
    from carbon_domain.db.enums import JobResult, JobState
    message = ("Recalculated 1537 member entries: 36888 emission rows, 0 without a matching"
               " factor, 0 errors")
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.emission_recalc, module_type_id=1,
                                      year=YEAR, created_by="test")
        job = job_service.create_job(
            s, pipeline_id=p.id, job_type=JobType.emission_recalc,
            target_type=TargetType.DATA_ENTRIES, ingestion_method=IngestionMethod.computed,
            module_type_id=1, data_entry_type_id=1, year=YEAR, created_by="test")
        job.state, job.result, job.status_message = JobState.FINISHED, JobResult.SUCCESS, message
        job.progress_done = job.progress_total = 1537
        pid = p.id
    with session_scope() as s:
        pipelines.recompute_pipeline_status(s, pid)
    for width in ("80", "100"):
        result = runner.invoke(app, ["wait", str(pid)], env={"COLUMNS": width})
        assert result.exit_code == 0, (result.stdout, result.stderr)
        assert "1537/1537" in result.stderr, result.stderr
        assert "…" not in result.stderr, result.stderr
        assert " ".join(result.stderr.split()).count("0 without a matching factor, 0 errors")


def test_a_factor_file_of_a_module_with_several_types_names_the_cli_option(
        db: str, worker: Any, tmp_path: Path) -> None:
    """A factors file for a module of several types, with no column naming its type and no
    --det: the refusal told the CLI's operator to 'pass data_entry_type_id' (the API's
    field). It names both ways now, the CLI's `--det` included."""
    upload("units", UNITS_CSV, year=YEAR)
    f = tmp_path / "factors.csv"
    f.write_text("equipment_class,sub_class,active_power_w,standby_power_w,"
                 "ef_kg_co2eq_per_kwh\nLaptop,Standard,100,10,0.1\n")
    result = runner.invoke(app, ["ingest", "factors", str(f), "-m", "equipment",
                                 "-y", str(YEAR)])
    line = assert_one_line_error(result.exit_code, result.stderr, "several data entry types")
    assert "--det" in line and "data_entry_type_id" in line, line
