"""factor history: an append-only row per change to a factor

Every upload that inserts, changes the values of, retires or revives a factor (and every
facility refresh that recomputes its values) writes one row here in the same transaction,
with the job, who, when and the values before and after. Factors that exist at upgrade time
get one ``recorded`` row (their state then, set by their last changing upload): earlier
changes were not kept, so the timeline says where it starts. Downgrade drops the table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 05:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "factor_history",
        sa.Column("id", _ID, nullable=False),
        sa.Column("factor_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("values_before", _JSON, nullable=True),
        sa.Column("values_after", _JSON, nullable=True),
        sa.Column("changed_by", sa.String(length=128), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True),
                  server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_factor_history"),
    )
    op.create_index("ix_factor_history_factor", "factor_history", ["factor_id", "id"])
    op.create_index("ix_factor_history_job", "factor_history", ["job_id"])
    # The state found at upgrade: one baseline row per existing factor, in id order.
    op.execute(
        "INSERT INTO factor_history (factor_id, job_id, change, values_before, values_after,"
        " changed_by, changed_at)"
        " SELECT f.id, f.changed_by_job_id, 'recorded', NULL, f.\"values\", j.created_by,"
        " f.updated_at FROM factors f"
        " LEFT JOIN data_ingestion_jobs j ON j.id = f.changed_by_job_id ORDER BY f.id")


def downgrade() -> None:
    op.drop_index("ix_factor_history_job", table_name="factor_history")
    op.drop_index("ix_factor_history_factor", table_name="factor_history")
    op.drop_table("factor_history")
