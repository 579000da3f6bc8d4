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


# -- options read without pydantic (carbon_api/cli/lazy.py: _PlainParam, _FlagParam) ------

_PARSE = r"""
import json, sys
import typer.main
from carbon_api.cli import app
group = typer.main.get_command(app)
argv = sys.argv[1:]
ctx = group.make_context("carbon", list(argv))
name, cmd, rest = group.resolve_command(ctx, list(argv))
params = cmd.make_context(name, rest, parent=ctx).params
print(json.dumps({"params": params, "pydantic": sorted(
    m for m in sys.modules if m.split(".")[0] in ("pydantic", "pydantic_core")
    or m == "typer._adapters")}))
"""


@pytest.mark.parametrize(("argv", "params"), [
    (["status", "--year", "2025", "--json", "--older-than", "2"],
     {"year": 2025, "as_json": True, "older_than": 2.0, "stale_only": False}),
    (["recalc", "equipment", "it", "--year", "2025", "--wait", "--timeout", "30"],
     {"year": 2025, "wait": True, "timeout": 30.0, "module": "equipment", "det": "it",
      "all_types": False, "as_json": False}),
    (["recalc", "equipment", "-y", "+2025"],
     {"year": 2025, "wait": False, "timeout": 3600.0, "module": "equipment", "det": None,
      "all_types": False, "as_json": False}),
])
def test_status_and_recalc_read_their_options_without_pydantic(argv: list[str],
                                                              params: dict[str, object]
                                                              ) -> None:
    """Typer converts every option value (`--year 2025`, the defaults 0.0 and 3600) through a
    pydantic TypeAdapter: ~70 ms of CPU before `carbon status` or `carbon recalc` did any work.
    The values are the same, and neither pydantic nor Typer's adapters are imported."""
    import json

    out = json.loads(_child(_PARSE, *argv))
    assert out["params"] == params
    assert type(out["params"]["year"]) is int
    assert out["pydantic"] == []


def _conversions(annotation: type, parameter_info: object, values: list[object]
                 ) -> tuple[list[object], list[object]]:
    """Each value converted by the plain conversion and by Typer's own (pydantic): the
    result, or the error message."""
    import typer
    from typer._coercion import build_runtime_param, resolve_type_descriptor
    from typer.core import TyperCommand, TyperOption

    from carbon_api.cli.lazy import _PLAIN_SYNTAX, _PlainParam

    assert annotation in _PLAIN_SYNTAX
    descriptor = resolve_type_descriptor(annotation, parameter_info)  # type: ignore[arg-type]
    param = TyperOption(param_decls=["--x"], type_descriptor=descriptor)
    ctx = typer.Context(TyperCommand("x"))

    def run(runtime: object) -> list[object]:
        out: list[object] = []
        for v in values:
            try:
                got = runtime._coerce_value(v, param=param, ctx=ctx)  # type: ignore[attr-defined]
                out.append((type(got).__name__, repr(got)))  # nan == nan as text
            except typer.BadParameter as exc:
                out.append(("error", exc.format_message()))
        return out

    return (run(_PlainParam(descriptor.parameter_info, annotation)),
            run(build_runtime_param(descriptor)))


_NUMBERS: list[object] = ["2025", "+5", "-5", "0", "02025", " 5", "5 ", "1_000", "5.0", "1.5",
                          "+1.5", "01.50", "1.", ".5", "1e3", "inf", "nan", "0x10", "١٢", "",
                          "abc", "9" * 30, 7, 3600, 2.0, 2.5, True, None]


@pytest.mark.parametrize(("annotation", "bounds"), [
    (int, {}), (int, {"min": 2000, "max": 2100}), (float, {}), (float, {"min": 1}),
    (float, {"min": 0, "max": 10}), (str, {})])
def test_the_plain_conversion_is_typers_own(annotation: type, bounds: dict[str, float]
                                           ) -> None:
    """For every value, what `_PlainParam` returns (or the error it leaves to Typer) is what
    Typer's pydantic conversion gives: the same type and value, or the same message."""
    import typer

    info = typer.models.OptionInfo(**bounds)  # type: ignore[arg-type]
    values = _NUMBERS + (["x", "é", "--y", " a b "] if annotation is str else [])
    if annotation is str:
        values = [v for v in values if v is None or isinstance(v, str)]
    plain, typer_own = _conversions(annotation, info, values)
    assert plain == typer_own


def test_sending_a_recalculation_loads_no_listing_query() -> None:
    """`carbon recalc` writes job rows and publishes: the listings' queries (the console's
    pipeline views, the stats rollup) are the uploads' year check, imported there."""
    listings = ("carbon_domain.services.reads.queries", "carbon_domain.stats")
    assert _child(_SENDER, ",".join(listings)) == ""
