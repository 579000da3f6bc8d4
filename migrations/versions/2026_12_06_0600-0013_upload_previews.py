"""upload previews: the stored impact preview of a factor upload

A preview job computes what a factor file would do (factors, entries, kg CO2-eq per unit,
module and emission type) in a transaction it rolls back; this table keeps its figures, the
file it was computed from, who asked, when it expires, and the newest input job of the
module and year at compute time (an apply is refused when a later one exists). Downgrade
drops the table (preview jobs stay in data_ingestion_jobs as finished jobs).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 06:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "upload_previews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.Integer(), nullable=False),
        sa.Column("module_type_id", sa.Integer(), nullable=False),
        sa.Column("data_entry_type_id", sa.Integer(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inputs_mark", sa.Integer(), nullable=True),
        sa.Column("figures", _JSON, nullable=True),
        sa.Column("applied_job_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_upload_previews"),
    )
    op.create_index("ix_upload_previews_job", "upload_previews", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_upload_previews_job", table_name="upload_previews")
    op.drop_table("upload_previews")
