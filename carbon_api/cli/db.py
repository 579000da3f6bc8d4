"""Database schema migrations (Alembic): ``carbon db upgrade|downgrade|current``, and
``carbon db check`` (orphan emission rows)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape

from carbon_api.cli.common import JsonFlag, console, error, json_out, mask_url, new_typer

cli = new_typer()
db_app = new_typer(help="Database schema migrations (Alembic).")
cli.add_typer(db_app, name="db")


def _url() -> str:
    from carbon_domain.settings import get_settings
    return get_settings().database_url


@contextmanager
def _alembic_errors() -> Iterator[None]:
    from alembic.util.exc import CommandError
    try:
        yield
    except CommandError as exc:
        error(str(exc).strip().splitlines()[0])


def _describe(current: tuple[str, ...], heads: tuple[str, ...]) -> str:
    if not current:
        return "empty (no migration applied)"
    return ", ".join(f"{rev} (head)" if rev in heads else rev for rev in current)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option("--revision", "-r", help="Target revision.")] = "head",
    as_json: JsonFlag = False,
) -> None:
    """Migrate the database (CARBON_DATABASE_URL) up to a revision."""
    from carbon_domain.db import migrate

    url = _url()
    with _alembic_errors():
        migrate.upgrade(url, revision)
        heads = migrate.current_heads(url)
    current = migrate.database_revisions(url)
    if as_json:
        json_out({"database": mask_url(url), "current": list(current), "head": list(heads)})
        return
    console.print(f"database {escape(mask_url(url))} at {_describe(current, heads)}",
                  soft_wrap=True)


# A relative revision (-1, -2) would otherwise be read as an unknown option ("No such option:
# -1"), though the help gives it as the example: unknown options reach REVISION as text.
@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Migrate the database down to REVISION (drops what later revisions created)."""
    from carbon_domain.db import migrate

    url = _url()
    if not yes:
        typer.confirm(f"Downgrade {mask_url(url)} to {revision}? Data in dropped tables is lost",
                      abort=True)
    with _alembic_errors():
        migrate.downgrade(url, revision)
        heads = migrate.current_heads(url)
    console.print(f"database {escape(mask_url(url))} at "
                  f"{_describe(migrate.database_revisions(url), heads)}", soft_wrap=True)


@db_app.command("current")
def db_current(
    check: Annotated[bool, typer.Option(help="Exit 1 unless the database is at head.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show the database's revision and the code's head."""
    from carbon_domain.db import migrate

    url = _url()
    with _alembic_errors():
        heads = migrate.current_heads(url)
    current = migrate.database_revisions(url)
    up_to_date = set(current) == set(heads)
    if as_json:
        json_out({"database": mask_url(url), "current": list(current), "head": list(heads),
                  "up_to_date": up_to_date})
    else:
        console.print(f"database {escape(mask_url(url))} at {_describe(current, heads)}",
                      soft_wrap=True)
        if not up_to_date:
            console.print(f"code head is {', '.join(heads)}: run `carbon db upgrade`",
                          soft_wrap=True)
    if check and not up_to_date:
        raise typer.Exit(1)




@db_app.command("check")
def db_check(as_json: JsonFlag = False) -> None:
    """Count orphan emission rows (rows carry no foreign keys); exit 1 if any is found."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.upkeep.integrity import check_emission_integrity

    with session_scope() as s:
        report = check_emission_integrity(s)
    if as_json:
        json_out(report.as_dict())
    elif report.ok:
        console.print("emission rows consistent: 0 orphan rows")
    if not report.ok:
        if as_json:
            raise typer.Exit(1)
        error(f"{report.rows_without_entry} rows without their entry,"
              f" {report.rows_without_factor} without their factor,"
              f" {report.rows_without_scope} without a scope,"
              f" {report.rows_in_wrong_slice} filed under another slice than their entry")
