"""upload previews: an id is never given twice (SQLite)

Discarding a preview deletes its row. SQLite gives a new row the highest id in use plus one,
so the next preview took the discarded one's id: two preview jobs read "Preview 6" with
different files, and a tab still showing the discarded panel would apply the other file.
SQLite's AUTOINCREMENT never hands out an id again; PostgreSQL's sequence never did, so this
changes nothing there.

Upgrade (SQLite) recreates the table with AUTOINCREMENT, rows kept; downgrade recreates it
without. The table has no foreign keys either way (a preview is a read model).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 12:00:00
"""
from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("upload_previews", recreate="always",
                              table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
