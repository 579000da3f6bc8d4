"""API bearer tokens: ``carbon tokens create|list|revoke`` (viewer reads, operator writes)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from carbon_api.cli.common import JsonFlag, console, info, json_out, new_typer

cli = new_typer()
tokens_app = new_typer(help="API bearer tokens (roles: viewer reads, operator reads and writes).")
cli.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Option("--name", "-n", help="Unique name, e.g. ci-uploader.")],
    role: Annotated[str, typer.Option(
        "--role", "-r", help="viewer (reads) or operator (reads and writes).")],
) -> None:
    """Create a token and print it on the last line (it is shown only once)."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.access.tokens import create_token

    with session_scope() as session:
        token = create_token(session, name, role)
    info(f"Created {role.strip().lower()} token {name.strip()!r}. It is shown only once; "
         "store it now.")
    typer.echo(token)


@tokens_app.command("list")
def tokens_list(as_json: JsonFlag = False) -> None:
    """List tokens (names, roles, last use; never the tokens themselves)."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.access.tokens import list_tokens

    with session_scope() as session:
        tokens = list_tokens(session)
    if as_json:
        json_out(tokens)
        return
    if not tokens:
        info("no tokens; create one with `carbon tokens create --name NAME --role ROLE`")
        return
    table = Table("name", "role", "created", "last used", "status")
    for t in tokens:
        table.add_row(
            escape(t.name), t.role.value,
            t.created_at.strftime("%Y-%m-%d %H:%M") if t.created_at else "",
            t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never",
            "[red]revoked[/]" if t.revoked else "[green]active[/]",
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    name: Annotated[str, typer.Argument(help="Name of the token to revoke.")],
) -> None:
    """Revoke a token: it stops working immediately."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.access.tokens import revoke_token

    with session_scope() as session:
        changed = revoke_token(session, name)
    info(f"token {name!r} revoked" if changed else f"token {name!r} was already revoked")
