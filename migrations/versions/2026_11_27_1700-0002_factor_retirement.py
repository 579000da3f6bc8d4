"""factor retirement: a factor upload is the factor set of its scope

Factors absent from a new file are retired (never matched again) instead of deleted: entries
and emission rows still link to them until the next recalculation. changed_by_job_id is the
last upload that inserted, changed, retired or revived the factor (incremental recalculation
reads it).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 17:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("factors") as batch:
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retired_by_job_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("changed_by_job_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_factors_retired_by_job_id_data_ingestion_jobs", "data_ingestion_jobs",
            ["retired_by_job_id"], ["id"], ondelete="SET NULL",
        )
        batch.create_foreign_key(
            "fk_factors_changed_by_job_id_data_ingestion_jobs", "data_ingestion_jobs",
            ["changed_by_job_id"], ["id"], ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("factors") as batch:
        batch.drop_constraint("fk_factors_retired_by_job_id_data_ingestion_jobs",
                              type_="foreignkey")
        batch.drop_constraint("fk_factors_changed_by_job_id_data_ingestion_jobs",
                              type_="foreignkey")
        batch.drop_column("changed_by_job_id")
        batch.drop_column("retired_by_job_id")
        batch.drop_column("retired_at")
