"""How the ``carbon`` CLI fails: known failures (the domain's refusals, a database or broker
that is not there, bad configuration, a schema behind the code) become one red line on
stderr and exit code 1; usage errors one line and exit code 2; anything else is a bug and
keeps its traceback (``CARBON_DEBUG=1`` keeps it for every failure). The root group
(:class:`CarbonGroup`) runs every command inside :func:`friendly_errors`; the output helpers
live in ``cli/common.py``.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup

from carbon_api.cli.common import error, mask_url
from carbon_domain.errors import CarbonError

P = ParamSpec("P")
R = TypeVar("R")


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


_NO_DATABASE = re.compile(r'database "([^"]+)" does not exist')


def _createdb(db_url: str, name: str) -> str:
    """The ``createdb`` command line for the URL's server and user (no password)."""
    try:
        from sqlalchemy.engine import make_url
        url = make_url(db_url)
    except Exception:  # noqa: BLE001 - a URL that parsed once; fall back to the bare name
        return f"`createdb {name}`"
    args = [f"-h {url.host}" if url.host else "", f"-p {url.port}" if url.port else "",
            f"-U {url.username}" if url.username else "", name]
    return "`createdb " + " ".join(a for a in args if a) + "`"


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
        missing = _NO_DATABASE.search(reason)
        if missing:  # the server answers; the migrations make tables, not the database
            return (f"{missing.group(0)} at {mask_url(db_url)}: create it first "
                    f"({_createdb(db_url, missing.group(1))}, or your provider's "
                    "equivalent), then `carbon db upgrade`")
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


__all__ = [
    "CarbonGroup", "describe_error", "friendly_errors", "handles_errors",
    "one_line_usage_errors", "require_database",
]
