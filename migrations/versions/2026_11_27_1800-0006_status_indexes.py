"""status indexes: the staleness probes and the pipelines console filters

ix_jobs_combo (year, job_type, module_type_id, data_entry_type_id, id) turns "the last job of
this kind for (year, module, type)" into one backward index scan, so the recalculation
status costs the same with 100,000 historical jobs as with 10. ix_pipelines_created_at backs
the pipelines listing (newest first, created_after / created_before).

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-27 18:00:00
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_combo", "data_ingestion_jobs",
                    ["year", "job_type", "module_type_id", "data_entry_type_id", "id"])
    op.create_index("ix_pipelines_created_at", "pipelines", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_pipelines_created_at", table_name="pipelines")
    op.drop_index("ix_jobs_combo", table_name="data_ingestion_jobs")
