"""The ``carbon`` command line (Typer + Rich).

Each topic lives in its own module of this package and exposes ``cli``, a ``typer.Typer``
(build it with :func:`carbon_api.cli.common.new_typer`). Its commands and groups are merged
into the root ``carbon`` command, loaded only when one of them runs: adding a command is one
line (name, module, one-line help) in ``COMMANDS`` of ``cli/lazy.py``::

    # carbon_api/cli/status.py
    from carbon_api.cli.common import JsonFlag, new_typer
    cli = new_typer()

    @cli.command()
    def status(year: int, as_json: JsonFlag = False) -> None: ...

Every command runs inside :func:`carbon_api.cli.failures.friendly_errors` (via the root group),
so a refusal of the domain (``carbon_domain.errors.CarbonError``), an unreachable database or
broker, or invalid configuration ends as one clear line on stderr with exit code 1.
"""

from __future__ import annotations

import atexit
import gc

import typer

from carbon_api.cli.lazy import COMMAND_MODULES, LazyCarbonGroup

app = typer.Typer(
    name="carbon",
    cls=LazyCarbonGroup,
    help="carbon-pipeline: carbon accounting whose recalculation and aggregation run on Celery.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    """Typer builds a group only for an app with a callback or sub-apps; the sub-apps are
    loaded on use by :class:`LazyCarbonGroup`, so this (empty) callback makes the group."""


# The operator waits for the process to end, and the interpreter's last garbage collection
# walks every object of the ~600-900 modules a command loaded (SQLAlchemy, Celery, pydantic):
# 0.2-0.5 s on the loaded shared machine for `carbon status`, ~0.02 s with the heap frozen
# first. atexit handlers (logging's flush among them) still run; objects are still released
# by reference counting at shutdown, only cyclic garbage is left to the operating system.
atexit.register(gc.freeze)

__all__ = ["COMMAND_MODULES", "app"]
