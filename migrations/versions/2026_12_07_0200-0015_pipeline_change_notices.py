"""pipeline change notices: NOTIFY carbon_pipeline_changes when a pipeline or its jobs move

PostgreSQL: after a pipeline row is inserted or updated, and after a job row's state,
result, progress or message changes, the transaction sends ``NOTIFY
carbon_pipeline_changes`` with the pipeline id (delivered at commit; repeats of one id in one
transaction are folded into one). The console's event stream listens (carbon_api/console/
changes.py) and polls at once instead of at its next interval, whoever made the change: a
worker, the CLI or another API process. A heartbeat alone sends nothing.

SQLite: nothing (the stream keeps polling).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:00:00
"""
from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

CHANNEL = "carbon_pipeline_changes"  # = carbon_domain.db.pipeline_changes.CHANNEL

_UP = (
    f"""CREATE OR REPLACE FUNCTION carbon_notify_pipeline_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_TABLE_NAME = 'pipelines' THEN
        PERFORM pg_notify('{CHANNEL}', NEW.id::text);
      ELSIF NEW.pipeline_id IS NOT NULL THEN
        PERFORM pg_notify('{CHANNEL}', NEW.pipeline_id::text);
      END IF;
      RETURN NULL;
    END $$""",
    "CREATE TRIGGER trg_pipelines_notify AFTER INSERT OR UPDATE ON pipelines"
    " FOR EACH ROW EXECUTE FUNCTION carbon_notify_pipeline_change()",
    "CREATE TRIGGER trg_jobs_notify AFTER UPDATE ON data_ingestion_jobs FOR EACH ROW"
    " WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.result IS DISTINCT FROM NEW.result"
    " OR OLD.progress_done IS DISTINCT FROM NEW.progress_done"
    " OR OLD.progress_total IS DISTINCT FROM NEW.progress_total"
    " OR OLD.status_message IS DISTINCT FROM NEW.status_message)"
    " EXECUTE FUNCTION carbon_notify_pipeline_change()",
)

_DOWN = (
    "DROP TRIGGER IF EXISTS trg_jobs_notify ON data_ingestion_jobs",
    "DROP TRIGGER IF EXISTS trg_pipelines_notify ON pipelines",
    "DROP FUNCTION IF EXISTS carbon_notify_pipeline_change()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in _UP:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in _DOWN:
        op.execute(sql)
