"""data entries: index (carbon_report_module_id, id) replaces (carbon_report_module_id)

The drill-down pages a report module's entries in id order; with the composite index page 1
of a 100k-entry module reads 51 index entries instead of sorting the module (bench/exports.py).
It serves every lookup the single-column index served (cascades, counts per module), so
writes maintain the same number of indexes.

Revision ID: 0005
Revises: 0006
Create Date: 2026-11-27 18:00:00
"""
from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_data_entries_module_id", "data_entries",
                    ["carbon_report_module_id", "id"], unique=False)
    op.drop_index("ix_data_entries_carbon_report_module_id", table_name="data_entries")


def downgrade() -> None:
    op.create_index("ix_data_entries_carbon_report_module_id", "data_entries",
                    ["carbon_report_module_id"], unique=False)
    op.drop_index("ix_data_entries_module_id", table_name="data_entries")
