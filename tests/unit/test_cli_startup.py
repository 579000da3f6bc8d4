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


# What only a worker needs: the task modules, and the engine, handlers and CSV schemas behind
# them. `carbon recalc --wait` (and the API) send work by task name and wait for every import
# before the job can start, so none of it belongs on the sending side.
TASK_CODE = ("carbon_tasks.tasks", "carbon_tasks.recalc", "carbon_tasks.ingest",
             "carbon_tasks.aggregate", "carbon_tasks.previews", "carbon_tasks.reconcile",
             "carbon_tasks.retention", "carbon_domain.engine", "carbon_domain.handlers",
             "carbon_domain.csv_rows", "carbon_domain.services.recalc.recalc_plan")

_SENDER = r"""
import sys
from carbon_api.cli import workflow
from carbon_domain import task_names as tn
from carbon_tasks import operations
from carbon_tasks.dispatch import dispatch_jobs
names = [*tn.RECALCULATION_TASKS, tn.UPLOAD_TASKS[tn.UploadKind.factors]]
print(",".join(sorted(set(sys.argv[1].split(",")) & set(sys.modules))))
"""


def _child(code: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_sending_work_loads_no_task_code() -> None:
    """The trigger-and-dispatch path of `carbon recalc` imports no task module: the Celery
    app discovers them only when a worker starts (carbon_tasks/app.py)."""
    assert _child(_SENDER, ",".join(TASK_CODE)) == ""


_WORKER = r"""
import json
from carbon_tasks.app import app
before = sorted(n for n in app.tasks if n.startswith("carbon."))
app.loader.import_default_modules()  # what WorkController.__init__ and beat do first
from carbon_domain import task_names as tn
from carbon_tasks import pipeline
import celeryconfig
sent = {*pipeline.JOB_TASKS.values(), *tn.RECALCULATION_TASKS,
        *tn.UPLOAD_TASKS.values(), *tn.TASK_QUEUES,
        *(e["task"] for e in celeryconfig.beat_schedule.values())}
print(json.dumps({"before": before, "unregistered": sorted(sent - set(app.tasks)),
                  "sent": len(sent)}))
"""


def test_a_starting_worker_registers_every_task_the_senders_name() -> None:
    """The other half: the names senders use (the graph's, the CLI's queue check, beat's)
    are all registered once Celery's loader runs, as in every worker."""
    import json

    out = json.loads(_child(_WORKER))
    assert out["before"] == [], "importing the app loaded task modules"
    assert out["unregistered"] == [] and out["sent"] >= 10, out


def test_the_heap_is_frozen_before_the_interpreter_exits() -> None:
    """The interpreter's final garbage collection over every loaded module cost 0.2-0.5 s
    per command on the loaded machine; `carbon` freezes the heap at exit instead."""
    code = ("import atexit, gc; import carbon_api.cli; assert gc.get_freeze_count() == 0;"
            " atexit._run_exitfuncs(); print(gc.get_freeze_count())")
    assert int(_child(code)) > 0
