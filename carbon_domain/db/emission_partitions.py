"""PostgreSQL's emission rows, one partition per (data entry type, year) slice, and the
stage tables a full recalculation writes into before its slice is swapped in.

    data_entry_emissions            LIST (data_entry_type_id)
      └ data_entry_emissions_t11    LIST (year)
          └ data_entry_emissions_t11_y2025    ← one slice's rows

Why: a full recalculation rewrites every row of its slice. In place, each chunk DELETEd the
old rows and COPYed new ones into an indexed table of every slice's rows (dead tuples, index
upkeep on both). Measured on the 1M bench seed (117 chunks, 3.5M rows, one connection,
2026-12-06, after VACUUM): DELETE + COPY in place 11.6 s; COPY into bare tables 3.5 s plus
1.0 s to build their entry index afterwards. So a full recalculation's chunks COPY into a
bare **stage** table of their job; its index is built once its last chunk is in, and the
job's finish swaps it in (DETACH the old leaf, ATTACH the stage, DROP the old leaf) in the
transaction that closes the job: a reader sees the old slice or the new one, never a mix.
An incremental recalculation keeps the in-place path (DELETE + COPY through the parent).

The stage carries CHECK constraints equal to its partition bound, so ATTACH does not scan
it, and defaults for the two partition columns, so chunks COPY the same six columns as
before. ``emission_stages`` lists the stages: the deletion triggers of data entries and
factors (migration 0014) delete from them too, so a row of an entry deleted while a
stage is being filled is not swapped back in. PostgreSQL only; SQLite keeps one table.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

ROOT = "data_entry_emissions"
ENTRY_INDEX_COLUMN = "data_entry_id"
# Advisory lock namespace of partition DDL (db/locks.py lists it with the others as
# EMISSION_PARTITIONS; defined here because locks imports the dialects, which import this).
PARTITION_DDL_LOCK = 1241


def type_table(det: int) -> str:
    return f"{ROOT}_t{int(det)}"


def leaf_table(det: int, year: int) -> str:
    return f"{ROOT}_t{int(det)}_y{int(year)}"


def stage_table(job_id: int, attempt: int) -> str:
    return f"emission_stage_j{int(job_id)}_a{int(attempt)}"


def type_partition_sql(det: int) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {type_table(det)} PARTITION OF {ROOT}"
            f" FOR VALUES IN ({int(det)}) PARTITION BY LIST (year)")


def leaf_partition_sql(det: int, year: int) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {leaf_table(det, year)} PARTITION OF"
            f" {type_table(det)} FOR VALUES IN ({int(year)})")


def leaf_defaults_sql(det: int, year: int) -> str:
    """A slice's own defaults for its two partition columns: in-place writes COPY the same
    six columns into the partition itself (no per-row routing, no wider payload)."""
    return (f"ALTER TABLE {leaf_table(det, year)} ALTER COLUMN data_entry_type_id SET DEFAULT"
            f" {int(det)}, ALTER COLUMN year SET DEFAULT {int(year)}")


def _exists(session: Session, table: str) -> bool:
    return session.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar() \
        is True


def _ddl_lock(session: Session) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": PARTITION_DDL_LOCK})


def ensure_leaf(session: Session, det: int, year: int) -> None:
    """Create the slice's partition if it has none yet (in-place writes are routed to it).
    Creating a partition locks its parent exclusively: done once per slice, under an
    advisory lock so two planners do not race."""
    if _exists(session, leaf_table(det, year)):
        return
    _ddl_lock(session)
    session.execute(text(type_partition_sql(det)))
    session.execute(text(leaf_partition_sql(det, year)))
    session.execute(text(leaf_defaults_sql(det, year)))


def create_stage(session: Session, job_id: int, attempt: int, det: int, year: int, *,
                 indexed: bool = False) -> str:
    """An empty table shaped like the slice's partition, listed in ``emission_stages``:
    index-less, or with its entry index from the start (``indexed``: a small slice, whose
    chunks then sum their own rows through it). A leftover of the same name (a crashed
    plan, or job ids restarted after a wipe) is dropped first."""
    name = stage_table(job_id, attempt)
    d, y = int(det), int(year)
    session.execute(text(f"DROP TABLE IF EXISTS {name}"))
    session.execute(text(
        f"CREATE TABLE {name} (LIKE {ROOT} INCLUDING DEFAULTS,"
        f" CHECK (data_entry_type_id IS NOT NULL AND data_entry_type_id = {d}),"
        f" CHECK (year IS NOT NULL AND year = {y}))"))
    session.execute(text(f"ALTER TABLE {name} ALTER COLUMN data_entry_type_id SET DEFAULT {d},"
                         f" ALTER COLUMN year SET DEFAULT {y}"))
    session.execute(text(
        "INSERT INTO emission_stages (table_name, job_id, attempt, data_entry_type_id, year)"
        " VALUES (:t, :j, :a, :d, :y) ON CONFLICT (table_name) DO UPDATE SET job_id = :j,"
        " attempt = :a, data_entry_type_id = :d, year = :y"),
        {"t": name, "j": job_id, "a": attempt, "d": d, "y": y})
    if indexed:
        index_stage(session, name)
    return name


def index_stage(session: Session, stage: str) -> None:
    """Build the stage's entry index (the partitioned index's twin, so ATTACH adopts it
    instead of building one inside the swap). Run by the chunk that completes the job, so
    each slice's build overlaps the other slices' chunks; a small stage has it from its
    creation (``create_stage``) and this is a no-op."""
    session.execute(text(f"CREATE INDEX IF NOT EXISTS {stage}_entry ON {stage}"
                         f" ({ENTRY_INDEX_COLUMN})"))


def swap_in(session: Session, stage: str, det: int, year: int) -> None:
    """Make the stage the slice's partition, in the caller's transaction: the old partition
    is detached and dropped, the stage attached and renamed. DETACH locks the type's
    partition exclusively until commit (readers of that type wait; other types do not)."""
    leaf = leaf_table(det, year)
    index_stage(session, stage)
    if not _exists(session, type_table(det)):
        _ddl_lock(session)
        session.execute(text(type_partition_sql(det)))
    if _exists(session, leaf):
        session.execute(text(f"ALTER TABLE {type_table(det)} DETACH PARTITION {leaf}"))
        session.execute(text(f"DROP TABLE {leaf}"))
    session.execute(text(f"ALTER TABLE {type_table(det)} ATTACH PARTITION {stage}"
                         f" FOR VALUES IN ({int(year)})"))
    session.execute(text(f"ALTER TABLE {stage} RENAME TO {leaf}"))
    session.execute(text(f"ALTER INDEX IF EXISTS {stage}_entry RENAME TO {leaf}_entry"))
    session.execute(text("DELETE FROM emission_stages WHERE table_name = :t"), {"t": stage})


def lock_types(session: Session, dets: list[int]) -> None:
    """ACCESS EXCLUSIVE on the types' partitions, in the order given (type order: the order
    a reader of the whole table locks them in), for the swaps that follow."""
    tables = [type_table(d) for d in dets if _exists(session, type_table(d))]
    if tables:
        session.execute(text(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE"))


def drop_stage(session: Session, stage: str, *, wait: bool = True) -> bool:
    """Drop a stage that will never be swapped in (its job failed, was aborted or
    re-planned). ``wait=False``: give up (False) if a chunk still holds it."""
    if _exists(session, stage) and not wait:
        before = session.execute(text("SELECT current_setting('lock_timeout')")).scalar()
        try:
            with session.begin_nested():
                session.execute(text("SELECT set_config('lock_timeout', '50ms', true)"))
                session.execute(text(f"LOCK TABLE {stage} IN ACCESS EXCLUSIVE MODE"))
        except OperationalError:  # not granted in time: a later sweep drops it
            return False
        finally:
            session.execute(text("SELECT set_config('lock_timeout', :v, true)"),
                            {"v": before})
    session.execute(text(f"DROP TABLE IF EXISTS {stage}"))
    session.execute(text("DELETE FROM emission_stages WHERE table_name = :t"), {"t": stage})
    return True


def stale_stages(session: Session) -> list[str]:
    """Stages whose job no longer runs the attempt that made them."""
    return [str(t) for (t,) in session.execute(text(
        "SELECT s.table_name FROM emission_stages s LEFT JOIN data_ingestion_jobs j"
        " ON j.id = s.job_id WHERE j.id IS NULL OR j.state <> 'RUNNING'"
        " OR j.attempts <> s.attempt ORDER BY s.table_name"))]


def sweep_stages(session: Session) -> int:
    """Drop the stages no running attempt will swap in; returns how many went."""
    return sum(drop_stage(session, t, wait=False) for t in stale_stages(session))
