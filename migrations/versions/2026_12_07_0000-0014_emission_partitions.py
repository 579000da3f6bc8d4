"""emission rows partitioned by (data entry type, year); stage tables of full recalculations

PostgreSQL: ``data_entry_emissions`` becomes a table partitioned by LIST
(data_entry_type_id), each type's partition by LIST (year), so a full recalculation can
fill a bare stage table and swap it in as its slice's partition instead of deleting and
re-inserting every row in place (carbon_domain/db/emission_partitions.py has the why and
the figures). Rows gain their entry's ``data_entry_type_id`` and ``year`` (the partition
key). The primary key on ``id`` goes (a partitioned table's keys must include the partition
columns; nothing looks rows up by id): one index fewer to maintain per row written, the
entry index stays. ``emission_stages`` lists the stage tables, and the deletion triggers
delete from them too.

SQLite: the two columns are added and filled; the table stays one table.

Works on a populated database: the rows are copied into the partitioned table with their
entry's type and year (rows of entries that no longer exist are orphans and not copied);
downgrade copies them back into one table.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 00:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COLS = ("id, data_entry_id, emission_type_id, scope, kg_co2eq, additional_value,"
         " primary_factor_id, meta, computed_at")

# Deletion triggers: a deleted entry's rows are deleted in its slice's partition (one
# statement per slice the deletion touches: a join against every partition's index would
# probe all of them) and in any stage table of that slice being filled meanwhile.
_PG_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION carbon_delete_entry_emissions() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE s record; t text;
    BEGIN
      FOR s IN SELECT DISTINCT g.data_entry_type_id AS d, g.year AS y FROM gone g LOOP
        t := format('data_entry_emissions_t%s_y%s', s.d, s.y);
        IF to_regclass(t) IS NOT NULL THEN
          EXECUTE format('DELETE FROM %I e USING gone g WHERE e.data_entry_id = g.id'
                         ' AND g.data_entry_type_id = %s AND g.year = %s', t, s.d, s.y);
        END IF;
        FOR t IN SELECT st.table_name FROM emission_stages st
                 WHERE st.data_entry_type_id = s.d AND st.year = s.y LOOP
          IF to_regclass(t) IS NOT NULL THEN
            EXECUTE format('DELETE FROM %I e USING gone g WHERE e.data_entry_id = g.id', t);
          END IF;
        END LOOP;
      END LOOP;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION carbon_truncate_entry_emissions() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE t text;
    BEGIN
      -- DELETE, not TRUNCATE: a TRUNCATE listing both tables holds the rows table in use.
      DELETE FROM data_entry_emissions;
      FOR t IN SELECT table_name FROM emission_stages LOOP
        IF to_regclass(t) IS NOT NULL THEN EXECUTE format('DELETE FROM %I', t); END IF;
      END LOOP;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION carbon_delete_factor_emissions() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE t text;
    BEGIN
      DELETE FROM data_entry_emissions e USING gone g WHERE e.primary_factor_id = g.id;
      FOR t IN SELECT table_name FROM emission_stages LOOP
        IF to_regclass(t) IS NOT NULL THEN
          EXECUTE format('DELETE FROM %I e USING gone g WHERE e.primary_factor_id = g.id', t);
        END IF;
      END LOOP;
      RETURN NULL;
    END $$""",
)

# Migration 0008's bodies, restored by the downgrade.
_PG_FUNCTIONS_0008 = (
    """CREATE OR REPLACE FUNCTION carbon_delete_entry_emissions() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM data_entry_emissions e USING gone g WHERE e.data_entry_id = g.id;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION carbon_truncate_entry_emissions() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM data_entry_emissions;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION carbon_delete_factor_emissions() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM data_entry_emissions e USING gone g WHERE e.primary_factor_id = g.id;
      RETURN NULL;
    END $$""",
)


def _stage_table() -> None:
    op.create_table(
        "emission_stages",
        sa.Column("table_name", sa.String(length=63), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("data_entry_type_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.current_timestamp()),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_emission_stages")),
    )


# SQLite's triggers of migration 0008 name the table a batch operation recreates: they are
# dropped around it and created again.
_SQLITE_TRIGGERS = (
    ("trg_data_entries_delete_emissions",
     """CREATE TRIGGER trg_data_entries_delete_emissions AFTER DELETE ON data_entries
     BEGIN DELETE FROM data_entry_emissions WHERE data_entry_id = OLD.id; END"""),
    ("trg_factors_delete_emissions",
     """CREATE TRIGGER trg_factors_delete_emissions AFTER DELETE ON factors
     BEGIN DELETE FROM data_entry_emissions WHERE primary_factor_id = OLD.id; END"""),
)


def _sqlite_triggers(create: bool) -> None:
    for name, statement in _SQLITE_TRIGGERS:
        op.execute(statement if create else f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    _stage_table()
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_triggers(create=False)
        with op.batch_alter_table("data_entry_emissions") as batch:
            batch.add_column(sa.Column("data_entry_type_id", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("year", sa.Integer(), nullable=True))
        op.execute("UPDATE data_entry_emissions SET data_entry_type_id = (SELECT"
                   " d.data_entry_type_id FROM data_entries d WHERE d.id ="
                   " data_entry_emissions.data_entry_id), year = (SELECT d.year FROM"
                   " data_entries d WHERE d.id = data_entry_emissions.data_entry_id)")
        op.execute("DELETE FROM data_entry_emissions WHERE data_entry_type_id IS NULL")
        with op.batch_alter_table("data_entry_emissions") as batch:
            batch.alter_column("data_entry_type_id", existing_type=sa.Integer(),
                               nullable=False)
            batch.alter_column("year", existing_type=sa.Integer(), nullable=False)
        _sqlite_triggers(create=True)
        return
    op.execute("ALTER TABLE data_entry_emissions RENAME TO data_entry_emissions_0013")
    op.execute("ALTER INDEX pk_data_entry_emissions RENAME TO pk_data_entry_emissions_0013")
    op.execute("ALTER INDEX ix_data_entry_emissions_data_entry_id"
               " RENAME TO ix_data_entry_emissions_0013_entry")
    op.execute(
        "CREATE TABLE data_entry_emissions ("
        " id bigint NOT NULL DEFAULT nextval('data_entry_emissions_id_seq'),"
        " data_entry_id bigint NOT NULL, data_entry_type_id integer NOT NULL,"
        " year integer NOT NULL, emission_type_id integer NOT NULL, scope integer NOT NULL,"
        " kg_co2eq double precision NOT NULL, additional_value double precision,"
        " primary_factor_id integer, meta jsonb,"
        " computed_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        " PARTITION BY LIST (data_entry_type_id)")
    op.execute("ALTER SEQUENCE data_entry_emissions_id_seq OWNED BY data_entry_emissions.id")
    slices = op.get_bind().execute(sa.text(
        "SELECT DISTINCT d.data_entry_type_id, d.year FROM data_entries d"
        " WHERE EXISTS (SELECT 1 FROM data_entry_emissions_0013 e"
        " WHERE e.data_entry_id = d.id) ORDER BY 1, 2")).all()
    for det in sorted({int(d) for d, _ in slices}):
        op.execute(f"CREATE TABLE data_entry_emissions_t{det} PARTITION OF"
                   f" data_entry_emissions FOR VALUES IN ({det}) PARTITION BY LIST (year)")
    for det, year in slices:
        op.execute(f"CREATE TABLE data_entry_emissions_t{int(det)}_y{int(year)} PARTITION OF"
                   f" data_entry_emissions_t{int(det)} FOR VALUES IN ({int(year)})")
        # The slice's own defaults: in-place writes COPY six columns into the partition.
        op.execute(f"ALTER TABLE data_entry_emissions_t{int(det)}_y{int(year)} ALTER COLUMN"
                   f" data_entry_type_id SET DEFAULT {int(det)}, ALTER COLUMN year SET"
                   f" DEFAULT {int(year)}")
    # Rows first, the index after: one sorted build instead of an insert per row.
    op.execute(
        f"INSERT INTO data_entry_emissions ({_COLS}, data_entry_type_id, year)"
        f" SELECT {', '.join('e.' + c.strip() for c in _COLS.split(','))},"
        " d.data_entry_type_id, d.year FROM data_entry_emissions_0013 e"
        " JOIN data_entries d ON d.id = e.data_entry_id")
    op.execute("DROP TABLE data_entry_emissions_0013")
    op.execute("CREATE INDEX ix_data_entry_emissions_data_entry_id ON data_entry_emissions"
               " (data_entry_id)")
    for statement in _PG_FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_triggers(create=False)
        with op.batch_alter_table("data_entry_emissions") as batch:
            batch.drop_column("year")
            batch.drop_column("data_entry_type_id")
        _sqlite_triggers(create=True)
        op.drop_table("emission_stages")
        return
    for (name,) in op.get_bind().execute(sa.text("SELECT table_name FROM emission_stages")):
        op.execute(f'DROP TABLE IF EXISTS "{name}"')
    for statement in _PG_FUNCTIONS_0008:
        op.execute(statement)
    op.execute("ALTER TABLE data_entry_emissions RENAME TO data_entry_emissions_0014")
    op.execute("ALTER INDEX ix_data_entry_emissions_data_entry_id"
               " RENAME TO ix_data_entry_emissions_0014_entry")
    op.execute(
        "CREATE TABLE data_entry_emissions ("
        " id bigint NOT NULL DEFAULT nextval('data_entry_emissions_id_seq'),"
        " data_entry_id bigint NOT NULL, emission_type_id integer NOT NULL,"
        " scope integer NOT NULL, kg_co2eq double precision NOT NULL,"
        " additional_value double precision, primary_factor_id integer, meta jsonb,"
        " computed_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " CONSTRAINT pk_data_entry_emissions PRIMARY KEY (id))")
    op.execute("ALTER SEQUENCE data_entry_emissions_id_seq OWNED BY data_entry_emissions.id")
    op.execute(f"INSERT INTO data_entry_emissions ({_COLS}) SELECT {_COLS}"
               " FROM data_entry_emissions_0014")
    op.execute("DROP TABLE data_entry_emissions_0014")  # and its partitions
    op.execute("CREATE INDEX ix_data_entry_emissions_data_entry_id ON data_entry_emissions"
               " (data_entry_id)")
    op.drop_table("emission_stages")
