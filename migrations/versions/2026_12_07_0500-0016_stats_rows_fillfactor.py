"""stats rows leave room on their pages: carbon_reports and carbon_report_modules fill
factor 40

Every aggregation stamps ``stats.computed_at`` of every report and report module of its
(module, year), changed or not: 576 reports × 8 aggregations in a full run of the bench's
year. With full pages each stamp wrote the new row version to another page and a new entry
into every index of the table; without autovacuum `carbon_reports` grew ~20 MB per 24
aggregations (34 MB for 576 rows of ~1.5 KB stats in the 1M bench database). With room on
the page the stamp is a heap-only update: no index entry, and the page's dead versions are
pruned when it next fills, once no older transaction of the cluster can still see them (the
table stayed at 3.7 MB over 48 aggregations with nothing else running; the aggregations
themselves 2.11–2.27 → 2.03–2.14 s per 24). A long transaction anywhere holds the pruning
back, as it holds VACUUM: the rows then move to new pages again until it ends.

A storage parameter: instant on a populated table (no rewrite). Rows already on full pages
move as they are next updated; `VACUUM FULL carbon_reports, carbon_report_modules` packs
them at once (docs/operating.md). SQLite: nothing.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 05:00:00
"""
from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = ("carbon_reports", "carbon_report_modules")
FILLFACTOR = 40


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
