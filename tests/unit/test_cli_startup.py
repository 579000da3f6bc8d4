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


# -- the lazy command table (carbon_api/cli/lazy.py) -----------------------------------------

_IMPORTED = r"""
import atexit, sys
atexit.register(lambda: print("IMPORTED", ",".join(sorted(sys.modules)), file=sys.stderr))
from carbon_api.cli import app
sys.argv = ["carbon", *sys.argv[1:]]
app()
"""


def imported(argv: list[str]) -> set[str]:
    """Every module `carbon *argv` imported (run in a child; exit code 0)."""
    proc = subprocess.run([sys.executable, "-c", _IMPORTED, *argv], capture_output=True,
                          text=True, timeout=120, env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("IMPORTED")]
    return set(line.removeprefix("IMPORTED ").split(","))


def _topics(modules: set[str]) -> set[str]:
    from carbon_api.cli.lazy import COMMAND_MODULES

    return {m.rsplit(".", 1)[1] for m in modules
            if m.startswith("carbon_api.cli.") and m.rsplit(".", 1)[1] in COMMAND_MODULES}


@pytest.mark.parametrize(("argv", "topics"), [
    (["--help"], set()), (["status", "--help"], {"listings", "workflow"}),
    (["recalc", "--help"], {"workflow"}), (["db", "--help"], {"db"})])
def test_a_command_loads_only_its_own_module(argv: list[str], topics: set[str]) -> None:
    """`carbon status --help` used to import all 12 topic modules (429 modules in all):
    only the one defining the command is imported (listings.py reuses workflow's year
    check)."""
    assert _topics(imported(argv)) == topics


@pytest.mark.parametrize("argv", [["--help"], ["status", "--help"], ["recalc", "--help"]])
def test_help_does_not_load_pydantic(argv: list[str]) -> None:
    """Typer converted the root group's unset flags (None) through a pydantic TypeAdapter:
    ~130 modules imported by every `carbon …` before its command ran."""
    mods = imported(argv)
    assert not {m for m in mods if m.split(".")[0] in ("pydantic", "pydantic_core")}


def test_the_table_lists_every_command_with_its_own_help() -> None:
    """The static table (names, modules, one-line help) equals what the modules define, in
    the order the root help lists them."""
    import inspect

    import typer.main

    from carbon_api.cli.lazy import COMMAND_MODULES, COMMANDS

    real: dict[str, tuple[str, str]] = {}
    for module in COMMAND_MODULES:
        group = typer.main.get_group(__import__(f"carbon_api.cli.{module}", fromlist=["cli"]).cli)
        for name, command in group.commands.items():
            first = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]
            real[name] = (module, " ".join(first.split()))
    assert list(real.items()) == list(COMMANDS.items())


def test_the_root_help_is_the_one_of_the_loaded_commands(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """`carbon --help` rendered from the table is, character for character, the help Typer
    renders from the real commands."""
    from typer.testing import CliRunner

    from carbon_api.cli import app
    from carbon_api.cli.failures import CarbonGroup
    from carbon_api.cli.lazy import LazyCarbonGroup

    def render() -> str:
        result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100"})
        assert result.exit_code == 0, result.output
        return result.output

    lazy = render()
    # The group's own format_help sets the listing mode; Typer's loads every command.
    monkeypatch.setattr(LazyCarbonGroup, "format_help", CarbonGroup.format_help)
    loaded = render()
    assert lazy == loaded
    assert "status" in lazy and "Recalculate one data entry type" in lazy


def test_a_mistyped_command_still_gets_a_suggestion() -> None:
    from typer.testing import CliRunner

    from carbon_api.cli import app

    result = CliRunner().invoke(app, ["stauts"], env={"COLUMNS": "100"})
    assert result.exit_code == 2 and "Did you mean 'status'?" in result.output


# -- the status read ------------------------------------------------------------------------

_STATUS_READ = r"""
import sys
import carbon_domain.services.reads.status
print(",".join(sorted(set(sys.argv[1].split(",")) & set(sys.modules))))
"""


def test_the_status_read_loads_no_handler_engine_or_csv_schema() -> None:
    """`carbon status` reads job rows and counts: the handlers, the engine, the CSV schemas
    and the factor index (~60 modules) were imported for the formula versions alone."""
    worker_only = ("carbon_domain.handlers", "carbon_domain.engine", "carbon_domain.csv_rows",
                   "carbon_domain.matching", "carbon_domain.services.recalc.affected",
                   "carbon_domain.services.inputs.slices", "airportsdata")
    assert _child(_STATUS_READ, ",".join(worker_only)) == ""
