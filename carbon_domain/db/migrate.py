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
