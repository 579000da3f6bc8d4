"""Programmatic Alembic, so `carbon db upgrade` works from an installed package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import migrations
from carbon_domain.db.session import engine_for
from carbon_domain.settings import get_settings, normalize_database_url


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.attributes["url"] = normalize_database_url(url or get_settings().database_url)
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def current_heads(url: str | None = None) -> tuple[str, ...]:
    """The head revision(s) of the code's migration history."""
    return tuple(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def database_revisions(url: str | None = None) -> tuple[str, ...]:
    """The revisions the database is at (empty before the first upgrade)."""
    with engine_for(url or get_settings().database_url).connect() as conn:
        return tuple(MigrationContext.configure(conn).get_current_heads())


def pending_revisions(url: str | None = None) -> list[str]:
    """The code's revisions the database has not applied yet, oldest first (empty when it is
    at head, or at a revision this code does not know: a newer release migrated it, which
    an older worker must not refuse during a rolling deploy)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    at = database_revisions(url)
    known = {r.revision for r in script.walk_revisions()}
    if any(r not in known for r in at):
        return []
    applied: set[str] = set()
    for rev in at:
        applied.update(r.revision for r in script.iterate_revisions(rev, "base"))
    return [r.revision for r in reversed(list(script.walk_revisions()))
            if r.revision not in applied]
