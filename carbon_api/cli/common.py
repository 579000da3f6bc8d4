"""Shared helpers for every ``carbon`` command.

Conventions (every command module follows them):

- Human output goes through :data:`console` (Rich). Machine output is ``--json``
  (:data:`JsonFlag`) printed with :func:`json_out`: plain JSON on stdout, nothing else there.
- A user mistake ends with :func:`error`: one red line on stderr, exit code 1, no traceback.
- Known failures (the domain's refusals, database or broker unreachable, bad configuration) are
  turned into one clear line by :func:`friendly_errors`. The root command group wraps every
  command in it, so command code just lets them raise; :func:`handles_errors` does the same for
  a function used outside the ``carbon`` group. ``CARBON_DEBUG=1`` re-raises with the full
  traceback. Any other exception (a bare ValueError too) is a bug and keeps its traceback.
- Import heavy modules (Celery, FastAPI, the database) inside command functions so that
  ``carbon --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar
from uuid import UUID

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from carbon_domain.errors import CarbonError

P = ParamSpec("P")
R = TypeVar("R")


class _Console(Console):
    """A Rich console that reads its width (``COLUMNS``, else the terminal) at each print.
    Rich's constructor fixes the width from ``COLUMNS`` when the console is made, and these
    are made when the CLI is imported: a width set later (a test's CliRunner env) was
    ignored or not depending on which command imported the CLI first (tables wrapped at 80
    columns in 2 of 21 CLI tests under pytest-xdist)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._width = None  # Console.size reads COLUMNS each time when this is None


# Consoles resolve sys.stdout / sys.stderr at print time, so CliRunner captures them.
console = _Console(highlight=False)
err_console = _Console(stderr=True, highlight=False)

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON on stdout (for scripts).")
]


# ---------------------------------------------------------------------------- output helpers

def error(message: str, code: int = 1) -> NoReturn:
    """Print one red line on stderr and exit with ``code`` (no traceback)."""
    err_console.print(Text(" ".join(str(message).split()), style="bold red"), soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console.print(Text(str(message), style="yellow"), soft_wrap=True)


def info(message: str) -> None:
    """A status line for humans on stderr (keeps stdout clean for values and JSON)."""
    err_console.print(Text(str(message)), soft_wrap=True)


def new_table(title: str | None, columns: Sequence[str]) -> Table:
    """A listing that fits an 80-column terminal without breaking words.

    ``columns`` are ``"name"`` (a value such as an id, a state or a name: never wrapped or
    cut), ``"name:num"`` (the same, right-aligned) or ``"name:text"`` (free text: wraps at
    spaces and gets what the other columns leave). Two spaces between columns and no box
    leave ~20 columns more for text than Rich's default heavy box.
    """
    t = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              padding=(0, 1), collapse_padding=True, title_justify="left")
    for spec in columns:
        name, _, kind = spec.partition(":")
        if kind == "text":
            t.add_column(name, overflow="fold", min_width=12)
        else:
            t.add_column(name, no_wrap=True, justify="right" if kind == "num" else "left")
    return t


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


def require_database(what: str) -> None:
    """Fail with one clear line before a long-running service starts on a database it cannot
    use (bad URL, unreachable, wrong credentials) instead of crashing on its first request."""
    from carbon_domain.db.migrate import pending_revisions
    from carbon_domain.db.session import check_database, get_engine
    from carbon_domain.settings import get_settings

    get_settings()  # an unusable URL is an "invalid configuration" line
    try:
        check_database()
        # A schema behind the code would fail on the first job ("column … does not exist").
        # No pooled connection may survive into `carbon worker`'s fork (see check_database).
        try:
            pending = pending_revisions()
        finally:
            get_engine().dispose()
    except Exception as exc:
        message = describe_error(exc)
        if message is None or _debug():
            raise
        error(f"{what} cannot start: {message}")
    if pending:
        error(f"{what} cannot start: database at {mask_url(_settings_urls()[0])} lacks"
              f" migration(s) {', '.join(pending)}; run `carbon db upgrade`")


# ---------------------------------------------------------------------------- error handling

# OperationalErrors that mean "the database is not there for us" (vs. e.g. a lock timeout).
_UNREACHABLE = re.compile(
    r"could not connect|connection refused|connection to server|could not translate host|"
    r"timeout expired|server closed the connection|no route to host|connection reset|"
    r"password authentication failed|database .* does not exist|unable to open database|"
    r"the database system is (starting up|shutting down)|too many clients",
    re.IGNORECASE,
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _settings_urls() -> tuple[str, str]:
    try:
        from carbon_domain.settings import get_settings
        s = get_settings()
        return s.database_url, s.broker_url
    except Exception:  # noqa: BLE001 - the settings themselves may be what is broken
        return (os.environ.get("CARBON_DATABASE_URL", "<default SQLite file>"),
                os.environ.get("CELERY_BROKER_URL", "memory://"))


def _debug() -> bool:
    try:
        from carbon_domain.settings import get_settings
        return get_settings().debug
    except Exception:  # noqa: BLE001 - broken settings must still get a friendly message
        return os.environ.get("CARBON_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def _broker_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = []
    try:
        from kombu.exceptions import OperationalError as KombuOperationalError
        errors.append(KombuOperationalError)
    except ImportError:  # pragma: no cover
        pass
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
        errors += [RedisConnectionError, RedisTimeoutError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def describe_error(exc: BaseException) -> str | None:
    """One clear line for a known failure, or None when ``exc`` is a bug worth a traceback
    (a bare ValueError is one: user mistakes are the domain's CarbonErrors)."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError, ProgrammingError

    db_url, broker_url = _settings_urls()
    if isinstance(exc, OperationalError):
        reason = _first_line(exc.orig if exc.orig is not None else exc)
        if "no such table" in reason:
            return (f"database at {mask_url(db_url)} is not migrated ({reason}); "
                    "run `carbon db upgrade`")
        if _UNREACHABLE.search(reason):
            return f"cannot reach database at {mask_url(db_url)}: {reason}"
        return f"database error at {mask_url(db_url)}: {reason}"
    if isinstance(exc, ProgrammingError):
        reason = _first_line(exc.orig if exc.orig is not None else exc)
        if "does not exist" in reason and ("relation" in reason or "table" in reason):
            return (f"database at {mask_url(db_url)} is not migrated ({reason}); "
                    "run `carbon db upgrade`")
        if "does not exist" in reason and "column" in reason:
            return (f"database at {mask_url(db_url)} is behind this version of carbon"
                    f" ({reason}); run `carbon db upgrade`")
        return None
    broker_errors = _broker_errors()
    if broker_errors and isinstance(exc, broker_errors):
        return f"cannot reach broker at {mask_url(broker_url)}: {_first_line(exc)}"
    if isinstance(exc, ValidationError):  # settings from the environment (also a ValueError)
        msgs = []
        for e in exc.errors():
            msg = str(e.get("msg", "")).removeprefix("Value error, ")
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "__root__")
            msgs.append(f"{loc}: {msg}" if loc else msg)
        return "invalid configuration: " + "; ".join(msgs)
    if isinstance(exc, CarbonError):  # a deliberate refusal (carbon_domain/errors.py)
        return _first_line(exc)
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return None


def _deliberate_exits() -> tuple[type[BaseException], ...]:
    """--help, typer.Exit, usage errors: passed through before describe_error imports the
    database and broker libraries. Typer >= 0.24 vendors click; real click exceptions come
    only from Celery's own CLI (`carbon worker`), so click is looked at once it is loaded."""
    from typer._click.exceptions import ClickException

    click = sys.modules.get("click")
    real = (click.exceptions.Exit, click.ClickException, click.Abort) if click else ()
    return (typer.Exit, typer.Abort, ClickException, *real)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn known exceptions into one red line on stderr and exit code 1."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, _deliberate_exits()):
            raise
        message = describe_error(exc)
        if message is None or _debug():
            raise
        error(message)


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of :func:`friendly_errors`."""
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with friendly_errors():
            return func(*args, **kwargs)
    return wrapper


@contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """A usage error (unknown option, missing or invalid value) as one red line, exit code 2,
    instead of Typer's usage panel. A command group called without arguments still shows its
    help (NoArgsIsHelpError)."""
    # Typer >= 0.24 vendors click: its exceptions are not `click.UsageError`.
    from typer._click.exceptions import NoArgsIsHelpError, UsageError

    try:
        yield
    except NoArgsIsHelpError:
        raise
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "carbon"
        error(f"{exc.format_message()} (see `{where} --help`)", code=exc.exit_code)


class CarbonGroup(TyperGroup):
    """Root group: usage errors are one line, every subcommand runs inside
    :func:`friendly_errors`."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: Any = None, **extra: Any) -> Any:
        with one_line_usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with one_line_usage_errors(), friendly_errors():
            return super().invoke(ctx)


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
    "CarbonGroup", "JsonFlag", "console", "duration", "err_console", "error", "exit_code",
    "friendly_errors", "handles_errors", "info", "json_out", "mask_url", "new_table", "new_typer",
    "one_line_usage_errors", "require_database", "warn",
]
