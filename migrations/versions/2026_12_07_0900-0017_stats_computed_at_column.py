"""stats computed_at in a column of its own: carbon_reports and carbon_report_modules gain
``stats_computed_at``; the key leaves the stats JSON

Every aggregation stamps the statistics of every report and report module of its (module,
year) as fresh, changed or not. Stamped inside the JSON, PostgreSQL decompresses, edits and
compresses again every report's ~1.5 KB of stats: 24-26 ms for the 576 reports of the 1M
bench year, 8 times in a full run (EXPLAIN ANALYZE, 2026-12-07). A timestamp column costs
1.8-2.1 ms for the same rows. The readers put the time back into the stats they return
(``carbon_domain.stats.with_computed_at``), so what the API, the console and the exports show
is unchanged.

Upgrade moves each row's ``stats.computed_at`` into the column; downgrade moves it back.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLES = ("carbon_reports", "carbon_report_modules")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        op.add_column(table, sa.Column("stats_computed_at", sa.DateTime(timezone=True),
                                       nullable=True))
        if postgres:
            op.execute(f"UPDATE {table} SET stats_computed_at ="
                       " (stats ->> 'computed_at')::timestamptz,"
                       " stats = stats - 'computed_at' WHERE stats ? 'computed_at'")
        else:
            # '2026-12-07T09:00:00.123456Z' as SQLAlchemy stores a datetime on SQLite
            # ('2026-12-07 09:00:00.123456').
            op.execute(f"UPDATE {table} SET stats_computed_at = replace(substr("
                       "json_extract(stats, '$.computed_at'), 1, 26), 'T', ' '),"
                       " stats = json_remove(stats, '$.computed_at')"
                       " WHERE json_extract(stats, '$.computed_at') IS NOT NULL")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        if postgres:
            op.execute(f"UPDATE {table} SET stats = jsonb_set(stats, '{{computed_at}}',"
                       " to_jsonb(to_char(stats_computed_at AT TIME ZONE 'UTC',"
                       " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')))"
                       " WHERE stats IS NOT NULL AND stats_computed_at IS NOT NULL")
        else:
            op.execute(f"UPDATE {table} SET stats = json_set(stats, '$.computed_at',"
                       " replace(substr(stats_computed_at, 1, 26), ' ', 'T') || 'Z')"
                       " WHERE stats IS NOT NULL AND stats_computed_at IS NOT NULL")
        # ALTER TABLE … DROP COLUMN, on SQLite too (3.35+): a batch would copy the table and
        # drop the old one, and dropping carbon_reports cascades to its report modules.
        op.drop_column(table, "stats_computed_at")
