"""Shared helpers for every ``carbon`` command.

Conventions (every command module follows them):

- Human output goes through :data:`console` (Rich). Machine output is ``--json``
  (:data:`JsonFlag`) printed with :func:`json_out`: plain JSON on stdout, nothing else there.
- A user mistake ends with :func:`error`: one red line on stderr, exit code 1, no traceback.
- Known failures (the domain's refusals, database or broker unreachable, bad configuration)
  become one clear line in ``cli/failures.py`` (:func:`~carbon_api.cli.failures.friendly_errors`):
  the root command group wraps every command in it, so command code just lets them raise.
  ``CARBON_DEBUG=1`` re-raises with the full traceback; any other exception (a bare
  ValueError too) is a bug and keeps its traceback.
- Import heavy modules (Celery, FastAPI, the database) inside command functions so that
  ``carbon --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast
from uuid import UUID

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


@cache
def _console_class() -> type[Console]:
    from rich.console import Console

    class _Console(Console):
        """A Rich console that reads its width (``COLUMNS``, else the terminal) at each
        print. Rich's constructor fixes the width from ``COLUMNS`` when the console is made:
        a width set later (a test's CliRunner env) was ignored or not depending on which
        command made the console first (tables wrapped at 80 columns in 2 of 21 CLI tests
        under pytest-xdist)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._width = None  # Console.size reads COLUMNS each time when this is None

    return _Console


class _LazyConsole:
    """Stands for a Rich console made on first use: Rich is ~45 modules that a command
    printing only JSON (`carbon status --json`) or a help never needs."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._real: Console | None = None

    def _console(self) -> Console:
        if self._real is None:
            self._real = _console_class()(**self._kwargs)
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._console(), name)

    # Special methods are looked up on the type, not through __getattr__: Rich's Live (the
    # progress bars of `--wait`, export, seed) enters the console to buffer its output.
    def __enter__(self) -> Console:
        return self._console().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._console().__exit__(*exc)


# Consoles resolve sys.stdout / sys.stderr at print time, so CliRunner captures them.
console = cast("Console", _LazyConsole(highlight=False))
err_console = cast("Console", _LazyConsole(stderr=True, highlight=False))

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON on stdout (for scripts).")
]


# ---------------------------------------------------------------------------- output helpers

def error(message: str, code: int = 1) -> NoReturn:
    """Print one red line on stderr and exit with ``code`` (no traceback)."""
    from rich.text import Text

    err_console.print(Text(" ".join(str(message).split()), style="bold red"), soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    from rich.text import Text

    err_console.print(Text(str(message), style="yellow"), soft_wrap=True)


def info(message: str) -> None:
    """A status line for humans on stderr (keeps stdout clean for values and JSON)."""
    from rich.text import Text

    err_console.print(Text(str(message)), soft_wrap=True)


def new_table(title: str | None, columns: Sequence[str]) -> Table:
    """A listing that fits an 80-column terminal without breaking words.

    ``columns`` are ``"name"`` (a value such as an id, a state or a name: never wrapped or
    cut), ``"name:num"`` (the same, right-aligned) or ``"name:text"`` (free text: wraps at
    spaces and gets what the other columns leave). Two spaces between columns and no box
    leave ~20 columns more for text than Rich's default heavy box.
    """
    from rich import box
    from rich.table import Table

    t = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              padding=(0, 1), collapse_padding=True, title_justify="left")
    for spec in columns:
        name, _, kind = spec.partition(":")
        if kind == "text":
            t.add_column(name, overflow="fold", min_width=12)
        else:
            t.add_column(name, no_wrap=True, justify="right" if kind == "num" else "left")
    return t


# The narrowest a text column is folded to before a listing gives up fitting the terminal.
TEXT_MIN_WIDTH = 8
_GAP = 2  # what new_table's collapsed padding leaves between two columns


def print_table(t: Table) -> None:
    """Print a :func:`new_table` listing without losing a character of any value.

    Left to itself, Rich fits a table whose values need more than the terminal's width by
    cutting the value columns ('1aec0…', a year shown as '2…') and, below the text column's
    minimum, by cropping every line at the edge: the message 'entries: 15 emission rows'
    read 'entries: 1 emission'. Here the value columns keep their widest value, the text
    columns share what is left (folded, down to TEXT_MIN_WIDTH), and when even that does
    not fit the table is printed wider than the terminal, which wraps the lines: never cut.
    """
    from rich.text import Text

    def natural(col: Any) -> int:
        cells = [col.header, *col.cells]
        return max((c.cell_len if isinstance(c, Text) else Text.from_markup(str(c)).cell_len)
                   for c in cells)

    widths = [natural(c) for c in t.columns]
    text_cols = [i for i, c in enumerate(t.columns) if not c.no_wrap]
    gaps = _GAP * (len(t.columns) - 1)
    fixed = sum(w for i, w in enumerate(widths) if i not in text_cols)
    width = console.width
    if fixed + gaps + sum(widths[i] for i in text_cols) <= width:
        console.print(t)  # everything fits as it is
        return
    left = width - gaps - fixed
    # Text columns narrower than their share keep their width; the others split the rest.
    share = {i: widths[i] for i in text_cols}
    wide = sorted(text_cols, key=lambda i: widths[i])
    while wide:
        each = left // len(wide)
        if widths[wide[0]] > each:
            break
        left -= widths[wide.pop(0)]
    for n, i in enumerate(wide):
        share[i] = max(TEXT_MIN_WIDTH, left // len(wide) + (1 if n < left % len(wide) else 0))
    for i, col in enumerate(t.columns):
        col.min_width = None
        col.width = share[i] if i in share else widths[i]
    total = sum(col.width or 0 for col in t.columns) + gaps
    if total <= width:
        console.print(t)
        return
    # Console.print clamps a wider width to the console's own: widen the console for this
    # one table (the _Console above reads COLUMNS again once _width is None).
    real = cast("_LazyConsole", console)._console()
    real._width = total
    try:
        real.print(t, crop=False)
    finally:
        real._width = None


def duration(start: datetime | None, end: datetime | None) -> str:
    """How long something ran (up to now while it runs): "0.4 s", "42 s", "3 m 05 s",
    "2 h 07 m"; "" before it started."""
    if start is None:
        return ""
    if end is None:
        end = datetime.now(UTC) if start.tzinfo is not None else datetime.now(UTC).replace(
            tzinfo=None)
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, (UUID, Path)):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "model_dump"):  # pydantic models
        return obj.model_dump(mode="json")
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def json_out(obj: Any) -> None:
    """Write ``obj`` as JSON on stdout: datetimes as ISO text, enums by value, dataclasses
    and pydantic models as objects."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    elif isinstance(obj, list) and obj and dataclasses.is_dataclass(obj[0]):
        obj = [dataclasses.asdict(o) for o in obj]
    typer.echo(json.dumps(obj, default=_json_default, indent=2, ensure_ascii=False))


def mask_url(url: str) -> str:
    """A connection URL safe to print (password replaced by ***)."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL (redis://, amqp://)
        try:
            from kombu.utils.url import maybe_sanitize_url
            return str(maybe_sanitize_url(url))
        except Exception:  # noqa: BLE001
            return "<unparseable URL>"


def new_typer(**kwargs: Any) -> typer.Typer:
    """A sub-app with the project's defaults (help on no args, Rich markup, no locals in
    tracebacks, which could hold secrets)."""
    kwargs.setdefault("no_args_is_help", True)
    kwargs.setdefault("rich_markup_mode", "markdown")
    kwargs.setdefault("pretty_exceptions_show_locals", False)
    return typer.Typer(**kwargs)


def exit_code(code: int | None) -> None:
    """Propagate a child's exit code (None or 0 means success)."""
    if code:
        raise typer.Exit(int(code))


__all__ = [
    "JsonFlag", "console", "duration", "err_console", "error", "exit_code", "info", "json_out",
    "mask_url", "new_table", "new_typer", "print_table", "warn",
]
