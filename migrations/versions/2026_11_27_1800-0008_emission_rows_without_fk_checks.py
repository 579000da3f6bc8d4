"""emission rows without foreign-key checks; incremental recalculation chunks

COPY into data_entry_emissions ran ~3× slower with its two foreign keys than without (4.10 s
vs 1.35 s for 268,550 rows): every row fired two FK lookups. Integrity is kept by triggers
that fire on the (rare) parent deletions instead of on every row written:

- deleting data entries (directly or by a cascade from units / reports / modules) deletes
  their emission rows in the same statement (PostgreSQL: one statement-level trigger over
  the transition table; SQLite: a row trigger); TRUNCATE data_entries empties the rows too;
- deleting a factor deletes the rows that name it (what ON DELETE CASCADE did; factors are
  retired, never deleted, by the application). The index on primary_factor_id only served
  that cascade and is dropped: rows are written millions at a time, factors deleted never.

``carbon db check`` (services/upkeep/integrity.py) counts orphan rows; it must find none.

recalc_chunks.entry_ids: an incremental recalculation's chunk lists its entry ids instead
of covering a whole id range. recalc_chunks.partials, slice_emission_sums and
slice_sum_versions: per-slice kg sums folded from the chunks' partial sums, so an
aggregation costs what changed rather than a scan of every emission row of the module.

Works on a database with data: existing rows are kept as they are (they were FK-checked).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 18:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_FK_ENTRY = "fk_data_entry_emissions_data_entry_id_data_entries"
_FK_FACTOR = "fk_data_entry_emissions_primary_factor_id_factors"

_PG_UP = (
    """CREATE FUNCTION carbon_delete_entry_emissions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM data_entry_emissions e USING gone g WHERE e.data_entry_id = g.id;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER trg_data_entries_delete_emissions AFTER DELETE ON data_entries
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION carbon_delete_entry_emissions()""",
    """CREATE FUNCTION carbon_truncate_entry_emissions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      -- DELETE, not TRUNCATE: a TRUNCATE listing both tables holds the rows table in use.
      DELETE FROM data_entry_emissions;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER trg_data_entries_truncate_emissions AFTER TRUNCATE ON data_entries
    FOR EACH STATEMENT EXECUTE FUNCTION carbon_truncate_entry_emissions()""",
    """CREATE FUNCTION carbon_delete_factor_emissions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM data_entry_emissions e USING gone g WHERE e.primary_factor_id = g.id;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER trg_factors_delete_emissions AFTER DELETE ON factors
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION carbon_delete_factor_emissions()""",
)
_PG_DOWN = (
    "DROP TRIGGER IF EXISTS trg_factors_delete_emissions ON factors",
    "DROP TRIGGER IF EXISTS trg_data_entries_truncate_emissions ON data_entries",
    "DROP TRIGGER IF EXISTS trg_data_entries_delete_emissions ON data_entries",
    "DROP FUNCTION IF EXISTS carbon_delete_factor_emissions()",
    "DROP FUNCTION IF EXISTS carbon_truncate_entry_emissions()",
    "DROP FUNCTION IF EXISTS carbon_delete_entry_emissions()",
)
_SQLITE_UP = (
    """CREATE TRIGGER trg_data_entries_delete_emissions AFTER DELETE ON data_entries
    BEGIN DELETE FROM data_entry_emissions WHERE data_entry_id = OLD.id; END""",
    """CREATE TRIGGER trg_factors_delete_emissions AFTER DELETE ON factors
    BEGIN DELETE FROM data_entry_emissions WHERE primary_factor_id = OLD.id; END""",
)
_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS trg_factors_delete_emissions",
    "DROP TRIGGER IF EXISTS trg_data_entries_delete_emissions",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("data_entry_emissions") as batch:
        batch.drop_constraint(_FK_ENTRY, type_="foreignkey")
        batch.drop_constraint(_FK_FACTOR, type_="foreignkey")
    # It served the factor FK's cascade; nothing reads rows by factor now, and every row
    # written paid for it (one of three index inserts per row).
    op.drop_index("ix_data_entry_emissions_primary_factor_id", table_name="data_entry_emissions")
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("recalc_chunks") as batch:
        batch.add_column(sa.Column("entry_ids", json_type, nullable=True))
        batch.add_column(sa.Column("partials", json_type, nullable=True))
    op.create_table(
        "slice_emission_sums",
        sa.Column("data_entry_type_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("carbon_report_module_id", sa.Integer(), nullable=False),
        sa.Column("emission_type_id", sa.Integer(), nullable=False),
        sa.Column("kg", sa.Numeric(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("data_entry_type_id", "year", "carbon_report_module_id",
                                "emission_type_id", name=op.f("pk_slice_emission_sums")),
    )
    op.create_table(
        "slice_sum_versions",
        sa.Column("data_entry_type_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("data_entry_type_id", "year", name=op.f("pk_slice_sum_versions")),
    )
    for statement in (_PG_UP if postgres else _SQLITE_UP):
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in (_PG_DOWN if postgres else _SQLITE_DOWN):
        op.execute(statement)
    op.drop_table("slice_sum_versions")
    op.drop_table("slice_emission_sums")
    with op.batch_alter_table("recalc_chunks") as batch:
        batch.drop_column("partials")
        batch.drop_column("entry_ids")
    # Rows whose parent is gone would make the constraints fail: they are orphans anyway.
    # NOT EXISTS, not NOT IN: a NOT IN subquery larger than work_mem is re-scanned per row.
    op.execute("DELETE FROM data_entry_emissions WHERE NOT EXISTS (SELECT 1 FROM"
               " data_entries d WHERE d.id = data_entry_emissions.data_entry_id)")
    op.execute("DELETE FROM data_entry_emissions WHERE primary_factor_id IS NOT NULL AND NOT"
               " EXISTS (SELECT 1 FROM factors f"
               " WHERE f.id = data_entry_emissions.primary_factor_id)")
    op.create_index("ix_data_entry_emissions_primary_factor_id", "data_entry_emissions",
                    ["primary_factor_id"])
    with op.batch_alter_table("data_entry_emissions") as batch:
        batch.create_foreign_key(_FK_ENTRY, "data_entries", ["data_entry_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_foreign_key(_FK_FACTOR, "factors", ["primary_factor_id"], ["id"],
                                 ondelete="CASCADE")
