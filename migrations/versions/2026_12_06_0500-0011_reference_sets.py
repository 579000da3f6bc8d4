"""reference uploads are sets: stations keyed by (name, country), retired reference rows

- ``stations``: the unique key becomes (name, country_code), so two stations of one name in
  two countries are two stations (it was ``name`` alone).
- ``stations``, ``building_rooms``, ``exchange_rates``: ``changed_by_job_id`` (the last upload
  that inserted, changed, retired or revived the row; incremental recalculation reads it)
  and ``retired_by_job_id`` (set when a ``replace`` upload omitted the row: kept for history,
  never read again). Existing rows are live and predate every recorded change (NULL).

Downgrade on a database with data: the old schema has no way to say "retired", so retired
rows are deleted (0009's code would read them again), and of several live stations sharing
a name only the lowest id is kept (the old unique key allows one per name).

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-06 05:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

_TABLES = ("stations", "building_rooms", "exchange_rates")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("changed_by_job_id", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("retired_by_job_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("stations") as batch:
        batch.drop_constraint("uq_stations_name", type_="unique")
        batch.create_unique_constraint("uq_stations_name_country", ["name", "country_code"])


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"DELETE FROM {table} WHERE retired_by_job_id IS NOT NULL")
    op.execute("DELETE FROM stations WHERE id NOT IN"
               " (SELECT min(id) FROM stations GROUP BY name)")
    with op.batch_alter_table("stations") as batch:
        batch.drop_constraint("uq_stations_name_country", type_="unique")
        batch.create_unique_constraint("uq_stations_name", ["name"])
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("retired_by_job_id")
            batch.drop_column("changed_by_job_id")
