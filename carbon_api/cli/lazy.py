"""The root ``carbon`` group, built lazily: a command's module is imported only when that
command runs (or its own help is asked for).

Importing every topic module up front cost `carbon status --help` 429 modules and
`carbon --help` 333 (each topic pulls its own domain imports: catalog, task names, upload
kinds ...). The root help lists the commands from :data:`COMMANDS`, a static table of names
and one-line help; ``tests/unit/test_cli_startup.py`` checks that it equals what the modules
really define, so adding a command means adding its line here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Any

from typer._coercion import RuntimeParam, build_runtime_param
from typer.core import TyperCommand, TyperGroup, _TyperParameter

from carbon_api.cli.failures import CarbonGroup

# name -> (module of carbon_api.cli that defines it, first paragraph of its help on one
# line). In the order `carbon --help` lists them (the order the modules used to be merged
# in, each module's commands before its groups).
COMMANDS: dict[str, tuple[str, str]] = {
    "api": ("ops", "Serve the HTTP API (uvicorn, `carbon_api.app:app`)."),
    "worker": ("ops", "Run a Celery worker (task events on, so Flower sees its tasks)."),
    "beat": ("ops", "Run Celery beat (the periodic reconciler); exactly one per deployment."),
    "flower": ("ops", "Run Flower (monitoring UI) on the configured broker, behind basic "
                      "auth."),
    "db": ("db", "Database schema migrations (Alembic)."),
    "tokens": ("tokens", "API bearer tokens (roles: viewer reads, operator reads and writes)."),
    "recalc": ("workflow", "Recalculate one data entry type, or a module's stale types "
                           "(`--all`: every type)."),
    "reconcile": ("workflow", "Run the reconciler once, here (beat runs it every minute)."),
    "ingest": ("workflow", "Upload a CSV through the same path as the API."),
    "status": ("listings", "Each data entry type's one state for a year (up to date, stale "
                           "with its reasons, running with its progress, failed or aborted "
                           "with where it stopped, incomplete)."),
    "jobs": ("listings", "The most recent jobs (newest first)."),
    "pipelines": ("pipelines", "The most recent pipelines (newest first; `--json` for full "
                              "ids), filtered as the API and the console filter them, with "
                              "the counts by status of the whole filtered result."),
    "wait": ("pipelines", "Follow a pipeline until it ends; exit 2 if it FAILED or was "
                         "ABORTED."),
    "abort": ("pipelines", "Abort a pipeline: finish its active jobs as ERROR and revoke "
                          "outstanding tasks."),
    "recover": ("recovery", "Re-run what a FAILED, PARTIAL or ABORTED pipeline left, whatever "
                            "the staleness says (exit 1 while it still runs or when it left "
                            "nothing; with --wait, exit 2 if the new pipeline FAILED or was "
                            "ABORTED)."),
    "demo": ("demo", "Run the whole story: seed, pipeline, totals, revised factors, stale, "
                     "recalc, totals."),
    "seed": ("seed", "Generate a deterministic synthetic university and load it (units, "
                     "building rooms, factors and data entries of every type) through the "
                     "same ingest path as an upload."),
    "export": ("export", "Export results (from the stats) or detailed rows as CSV."),
    "factors": ("factors", "Factors: the history of one factor."),
    "revert": ("reverts", "Restore the factors (data entries, or reference data) of an "
                          "upload's scope to what they were just before it, as a new upload "
                          "(refused when a later upload of the same scope exists: revert it "
                          "first)."),
    "entries": ("entries", "A report module's entries in id order, each with its kg CO2-eq "
                           "and the factor its rows were computed with, or the reason it has "
                           "no row."),
    "explain": ("entries", "One entry recomputed by the engine: the factor versions it uses "
                           "and the uploads that set them, each row's formula with its "
                           "inputs, and whether the stored rows agree."),
}

COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(m for m, _ in COMMANDS.values()))


@cache
def module_group(module: str) -> TyperGroup:
    """The commands of one topic module (its ``cli`` Typer) as a click group, built once."""
    import typer.main

    group = typer.main.get_group(import_module(f"carbon_api.cli.{module}").cli)
    _convert_plainly(group)
    return group


def _convert_plainly(command: Any) -> None:
    """Give every int, float and str parameter of ``command`` (and of its subcommands) the
    conversion of :class:`_PlainParam`, so that `carbon status --year 2025` and `carbon recalc
    equipment it --year 2025` load no pydantic to read their options."""
    for sub in getattr(command, "commands", {}).values():
        _convert_plainly(sub)
    for param in command.params:
        if not isinstance(param, _TyperParameter) or param._runtime_param is not None:
            continue
        d = param.type_descriptor
        info = d.parameter_info
        if d.annotation is bool:
            _plain_flags([param])
        elif (d.annotation in _PLAIN_SYNTAX and info.parser is None and not info.clamp
                and not d.is_file and not d.is_path and not d.is_choice):
            param._runtime_param = _PlainParam(info, d.annotation)


class _LazyCommands(Mapping[str, Any]):
    """The group's ``commands``: every name at once (Typer suggests close names from the
    keys on a typo), a command's module imported when the command itself is looked up."""

    def __getitem__(self, name: str) -> Any:
        return module_group(COMMANDS[name][0]).commands[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


@dataclass(frozen=True)
class _FlagParam(RuntimeParam):
    """How a boolean flag of the root group converts its value without pydantic.

    Typer converts every parameter through a pydantic ``TypeAdapter`` built on first use,
    and skips that only for a flag that already holds a bool: the root's flags that were not
    given hold None, so every `carbon …` imported pydantic (~130 modules, 0.05-0.1 s) just
    to keep that None. None stays None and a bool stays itself here, as the adapter returns
    them; any other value (from the environment) goes to Typer's own conversion."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, bool):
            return value
        return build_runtime_param(param.type_descriptor)._coerce_value(
            value, param=param, ctx=ctx)


def _plain_flags(params: Any) -> None:
    """Boolean flags convert through :class:`_FlagParam` (no pydantic)."""
    for param in params:
        if (isinstance(param, _TyperParameter) and param._runtime_param is None
                and param.type_descriptor.annotation is bool):
            param._runtime_param = _FlagParam(param.type_descriptor.parameter_info, bool)


# What a command line gives that int() and float() read exactly as pydantic does (digits with
# a sign; pydantic also takes "1_000", " 5", "1e3", "5.0" for an int ...: those go to it).
_PLAIN_SYNTAX: dict[Any, re.Pattern[str]] = {
    int: re.compile(r"[+-]?[0-9]+"),
    float: re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?"),
    str: re.compile(r".*", re.DOTALL),
}


@dataclass(frozen=True)
class _PlainParam(RuntimeParam):
    """How an int, float or str option converts its value without pydantic.

    Typer 0.29 converts every value (`--year 2025`, and the default 0.0 of `--older-than`)
    through a pydantic ``TypeAdapter``: importing pydantic for it cost `carbon status` and
    `carbon recalc` ~0.07 s of CPU (docs/performance.md). A value in the plain syntax above
    (or already of the type) within the option's min/max is converted here to what the
    adapter returns for it; anything else (another spelling, out of range) goes to Typer's
    own conversion, so what is accepted and every error message stay Typer's
    (``tests/unit/test_cli_startup.py`` compares both)."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        kind = self.annotation
        out: Any = None
        if isinstance(value, str) and _PLAIN_SYNTAX[kind].fullmatch(value):
            out = kind(value)
        elif type(value) is kind or (kind is float and type(value) is int):
            out = kind(value)
        info = self.parameter_info
        if out is None or (kind is not str and (
                (info.min is not None and out < info.min)
                or (info.max is not None and out > info.max))):
            return build_runtime_param(param.type_descriptor)._coerce_value(
                value, param=param, ctx=ctx)
        return out


class LazyCarbonGroup(CarbonGroup):
    """:class:`CarbonGroup` whose subcommands come from :data:`COMMANDS`, imported on use."""

    _listing = False  # True while the root help is formatted: summaries, no imports

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _LazyCommands()  # type: ignore[assignment]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _plain_flags(self.get_params(ctx))  # with --help, which click adds here
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None:
            # The command's own --help (made on first use, with the names this context
            # hands down) holds None when not given: the same flag conversion as ours.
            _plain_flags([cmd.get_help_option(ctx)])
        return name, cmd, rest

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self._listing and cmd_name in COMMANDS:
            # What the help's command panel reads of a command: its name and help.
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name][1],
                                rich_markup_mode=self.rich_markup_mode)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


__all__ = ["COMMANDS", "COMMAND_MODULES", "LazyCarbonGroup", "module_group"]
