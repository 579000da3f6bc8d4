"""PostgreSQL's side of every dialect operation (the interface: ``db/dialect/__init__.py``):
COPY (``db/bulk.py``), array parameters, ``jsonb`` and advisory locks. The statements and the
measurements behind them moved here unchanged from the services that used to branch."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from carbon_domain import fast_json
from carbon_domain.db import bulk, emission_partitions

Entries = list[tuple[int, dict[str, Any]]]

# Marks the entry lock of a chunk so a test can find it in pg_stat_activity.
HOLD_MARK = "/* chunk rows written */"
# Up to this many parts a slice's chunk bounds are OFFSET walks (slice_bounds).
OFFSET_BOUNDS_UP_TO = 6

_KG_ROWS = (
    # Entry-driven: walk the module's slice (index on type, year) and look each entry's
    # rows up by data_entry_id. Joining the other way round made PostgreSQL scan every
    # emission row of every module (9.9 s → 2.7 s for 500k purchase entries among 1.1M).
    # OFFSET 0 keeps the lateral subquery from being flattened back into that plan. An entry
    # with no row yields one NULL group: its missing factor. The partition key: the year
    # and the module's types prune the partitions when planning, the entry's type at each
    # lookup (only that slice's index is probed).
    "SELECT de.carbon_report_module_id, e.emission_type_id, SUM(e.kg_co2eq), count(*)"
    " FROM data_entries de LEFT JOIN LATERAL (SELECT x.emission_type_id, x.kg_co2eq"
    " FROM data_entry_emissions x WHERE x.data_entry_id = de.id AND x.year = :y"
    " AND x.data_entry_type_id IN :dets AND x.data_entry_type_id = de.data_entry_type_id"
    " OFFSET 0) e ON true"
    " WHERE de.year = :y AND de.data_entry_type_id IN :dets GROUP BY 1, 2")


class _EntrySpool:
    """Entry rows spooled as COPY text that spills to disk past 16 MB, so a million-row
    upload does not keep a million parsed rows in the worker's memory."""

    def __init__(self, year: int, job_id: int) -> None:
        self.count = 0
        self.dets: set[int] = set()
        self._year, self._job = year, job_id
        self._file = tempfile.SpooledTemporaryFile(max_size=16 << 20, mode="w+",
                                                   encoding="utf-8", newline="")

    def add(self, crm: int, det: int, unit: int, data: str) -> None:
        self.count += 1
        self.dets.add(det)
        self._file.write(f"{crm}\t{det}\t{bulk.copy_escape(data)}\tcsv\t{self._year}\t{unit}"
                         f"\t{self._job}\n")

    def write(self, session: Session) -> None:
        self._file.seek(0)
        bulk.copy_from(session, "COPY data_entries (carbon_report_module_id,"
                       " data_entry_type_id, data, source, year, unit_id,"
                       " created_by_job_id) FROM STDIN", self._file)
        self._file.close()


class PostgresDialect:
    name = "postgresql"
    staged_upsert = True
    exact_sums = True
    copy_csv = True
    raw_reads = True

    # -- transactions and locks -----------------------------------------------------------
    def xact_lock(self, session: Session, namespace: int, key: int, *,
                  shared: bool = False) -> None:
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        session.execute(text(f"SELECT {fn}(:ns, :key)"), {"ns": namespace, "key": key})

    def try_xact_lock(self, session: Session, namespace: int, key: int) -> bool:
        return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:ns, :key)"),
                                    {"ns": namespace, "key": key}).scalar())

    def snapshot(self, session: Session) -> None:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})

    def skip_locked(self) -> str:
        return "FOR UPDATE SKIP LOCKED"

    # -- bulk writes ------------------------------------------------------------------------
    def entry_spool(self, year: int, job_id: int) -> _EntrySpool:
        return _EntrySpool(year, job_id)

    def insert_emission_rows(self, session: Session, det: int, year: int,
                             rows: list[tuple[Any, ...]], *, into: str | None = None) -> None:
        """Straight into the slice's partition (or the stage): no per-row routing, and the
        partition's defaults fill its two key columns."""
        table = into or emission_partitions.leaf_table(det, year)
        bulk.copy_from(session, f"COPY {table} (data_entry_id, emission_type_id,"
                                " scope, kg_co2eq, additional_value, primary_factor_id)"
                                " FROM STDIN WITH (FORMAT binary)",
                       io.BytesIO(bulk.emission_rows_binary(rows)))

    # -- a full recalculation's stage -------------------------------------------------------
    def prepare_slice(self, session: Session, job_id: int, attempt: int, det: int,
                      year: int, *, full: bool, indexed: bool = False) -> str | None:
        """A full recalculation gets a stage; an incremental one writes in place, into the
        slice's partition (created if the slice never had one)."""
        if full:
            return emission_partitions.create_stage(session, job_id, attempt, det, year,
                                                    indexed=indexed)
        emission_partitions.ensure_leaf(session, det, year)
        return None

    def finish_stage(self, session: Session, stage: str) -> None:
        emission_partitions.index_stage(session, stage)

    def swap_stage(self, session: Session, stage: str, det: int, year: int) -> None:
        emission_partitions.swap_in(session, stage, det, year)

    def drop_stage(self, session: Session, stage: str) -> None:
        emission_partitions.drop_stage(session, stage)

    def lock_types_for_swap(self, session: Session, dets: list[int]) -> None:
        emission_partitions.lock_types(session, dets)

    def sweep_stages(self, session: Session) -> int:
        return emission_partitions.sweep_stages(session)

    # -- a chunk's entries ------------------------------------------------------------------
    def read_entries(self, session: Session, det: int, year: int, lo: int, hi: int,
                     ids: list[int] | None) -> tuple[Entries, dict[int, int]]:
        """On the session's DBAPI cursor (same transaction), ``data`` as text parsed here:
        what psycopg2's jsonb typecaster does, without its per-value Python callback and
        SQLAlchemy's per-row result processing. 10,000 `it` entries: 73-88 ms → 50-63 ms
        client CPU (min of 7, load ~4); orjson (``fast_json``) then took the parse from 25 to
        9 ms."""
        if ids is not None:
            # One array parameter (10,000 bound literals cost more to send and plan than the
            # lookups), bounded by the ids' range so the plan is an index scan whether or not
            # the table has statistics: without them (autovacuum off, as on the bench
            # machine) the unnest join hashed the whole 102k-entry slice, 0.35-0.44 s per
            # chunk; this form 0.05-0.17 s for 6,404 ids at 1M (A/B, load 2.5).
            sql = ("SELECT id, data::text, carbon_report_module_id FROM data_entries WHERE"
                   " id = ANY(%s::bigint[]) AND data_entry_type_id = %s AND year = %s"
                   " AND id BETWEEN %s AND %s ORDER BY id")
            params: tuple[Any, ...] = (list(ids), det, year, min(ids), max(ids))
        else:
            sql = ("SELECT id, data::text, carbon_report_module_id FROM data_entries WHERE"
                   " data_entry_type_id = %s AND year = %s AND id BETWEEN %s AND %s"
                   " ORDER BY id")
            params = (det, year, lo, hi)
        rows = bulk.fetch_raw(session, sql, params)
        if not rows:
            return [], {}
        # Columns by one transposition in C (25,000 rows: ~5 ms less than a comprehension
        # per column), then one orjson pass per chunk.
        read, texts, crms = zip(*rows, strict=True)
        datas = fast_json.loads_many(list(texts))
        return list(zip(read, datas, strict=True)), dict(zip(read, crms, strict=True))

    def delete_emissions_of(self, session: Session, det: int, year: int, ids: list[int], *,
                            into: str | None = None) -> list[tuple[int, int, float]]:
        # = ANY(array): 0.02-0.05 s for 10,000 entries, IN (10,000 literals) 0.3-0.7 s. The
        # BETWEEN keeps it an index scan without statistics: alone, = ANY was estimated at
        # 2.28M of 2.7M rows and became a seq scan, 0.56-0.90 s → 0.08-0.17 s for 6,404 ids
        # (1M entries, unanalyzed, load 2.5); 0.07-0.22 s → 0.05-0.12 s analyzed.
        table = into or emission_partitions.leaf_table(det, year)
        return [tuple(r) for r in session.execute(text(
            f"DELETE FROM {table} WHERE data_entry_id = ANY(CAST(:ids AS"
            " bigint[])) AND data_entry_id BETWEEN :lo AND :hi"
            " RETURNING data_entry_id, emission_type_id, kg_co2eq"),
            {"ids": ids, "lo": min(ids), "hi": max(ids)})]

    def hold_entries(self, session: Session, det: int, year: int, lo: int, hi: int,
                     ids: list[int] | None) -> set[int]:
        """The chunk's entries that still exist, locked FOR KEY SHARE until commit. Their ids
        come back as one array on the raw cursor: 10,000 ids as rows through SQLAlchemy cost
        ~4 ms of client CPU and 10 ms wall, as one array 1.4 ms and 7.5 ms (min of 4)."""
        if ids is not None:
            sql = (f"{HOLD_MARK} SELECT array_agg(d.id) FROM (SELECT d.id FROM"
                   " unnest(%s::bigint[]) u(id) JOIN data_entries d ON d.id = u.id"
                   " FOR KEY SHARE OF d) d")
            params: tuple[Any, ...] = (list(ids),)
        else:
            sql = (f"{HOLD_MARK} SELECT array_agg(id) FROM (SELECT id FROM data_entries WHERE"
                   " data_entry_type_id = %s AND year = %s AND id BETWEEN %s AND %s"
                   " FOR KEY SHARE) t")
            params = (det, year, lo, hi)
        held = bulk.fetch_raw(session, sql, params)[0][0]
        return set(held or ())

    def slice_bounds(self, session: Session, det: int, year: int, part: int,
                     parts: int) -> list[int]:
        """The first id of each ``part``-entry run of the slice, in id order. While parts are
        few, each bound is an OFFSET walk of the slice index (k·part ids, n·(parts-1)/2 in
        all): cheaper than numbering every id with a window aggregate, which costs ~3× an
        index-only walk per id (1M seed, 102k-entry slice in 4 parts: 50 → 22 ms)."""
        if parts <= OFFSET_BOUNDS_UP_TO:
            return [r[0] for r in session.execute(text(
                "SELECT b.id FROM generate_series(0, :parts - 1) AS k, LATERAL (SELECT id"
                " FROM data_entries WHERE data_entry_type_id = :d AND year = :y ORDER BY id"
                " OFFSET k * :cs LIMIT 1) AS b ORDER BY b.id"),
                {"d": det, "y": year, "cs": part, "parts": parts})]
        return [r[0] for r in session.execute(text(
            "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM data_entries"
            " WHERE data_entry_type_id = :d AND year = :y) t WHERE (rn - 1) % :cs = 0"
            " ORDER BY id"), {"d": det, "y": year, "cs": part})]

    def relink_primary_factors(self, session: Session,
                               relinked: dict[int, int | None]) -> None:
        # One statement over two arrays: a chunk's first calculation after a data upload
        # relinks every entry, and one UPDATE per entry (executemany) cost 2.5-7.5 s per
        # 10,000 entries against 0.26-0.42 s here (A/B at load 8-10); at 8M seeded entries
        # it was most of the seeding time.
        ids = sorted(relinked)
        session.execute(text(
            "UPDATE data_entries AS d SET data = d.data || jsonb_build_object("
            "'primary_factor_id', u.f), updated_at = now() FROM unnest(CAST(:ids AS bigint[]),"
            " CAST(:fs AS integer[])) AS u(i, f) WHERE d.id = u.i"),
            {"ids": ids, "fs": [relinked[i] for i in ids]})

    # -- stats writes -----------------------------------------------------------------------
    def write_stats(self, session: Session, table: str,
                    rows: Sequence[tuple[int, Mapping[str, Any]]], now: datetime, *,
                    set_status: bool) -> None:
        """One UPDATE … FROM jsonb_to_recordset (a statement per row cost ~1 s per 500
        reports); ``now`` is also the stats' ``stats_computed_at``."""
        status = ", status = 1" if set_status else ""
        payload = json.dumps([{"id": i, "stats": st} for i, st in rows])
        session.execute(text(
            f"UPDATE {table} AS t SET stats = x.stats, stats_computed_at = :now,"
            f" last_updated = :now{status}"
            " FROM jsonb_to_recordset(CAST(:payload AS jsonb)) AS x(id int, stats jsonb)"
            " WHERE t.id = x.id"), {"payload": payload, "now": now})

    def stamp_computed_at(self, session: Session, table: str, ids: list[int],
                          at: datetime) -> None:
        session.execute(text(
            f"UPDATE {table} SET stats_computed_at = :at WHERE id = ANY(:ids)"
            " AND stats IS NOT NULL"), {"at": at, "ids": ids})

    # -- reads ------------------------------------------------------------------------------
    def module_kg_rows(self, session: Session, year: int, dets: list[int]
                       ) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in session.execute(
            text(_KG_ROWS).bindparams(bindparam("dets", expanding=True)),
            {"y": year, "dets": dets})]

    def entries_grouped(self, session: Session, det: int, year: int,
                        keys: tuple[str, ...]) -> list[tuple[list[int], tuple[Any, ...]]]:
        """(entry ids, value of each key) per distinct values: one GROUP BY returns a few
        hundred groups instead of every entry's JSON (the it slice at 1M: 102k entries).

        Run as a hash aggregate: without statistics (never analyzed) PostgreSQL expects ~5
        rows and sorts the slice on its jsonb keys instead: the it slice at 200k, 20,492
        entries → 14 groups, 0.27-0.33 s sorted, 0.11-0.15 s hashed (load ~6). The setting is
        transaction-local and restored right after (the rows are fetched by then)."""
        cols = ", ".join(f"data -> '{k}'" for k in keys)
        by = ", ".join(str(i + 2) for i in range(len(keys)))
        sql = text(f"SELECT array_agg(id), {cols} FROM data_entries WHERE data_entry_type_id"
                   f" = :d AND year = :y GROUP BY {by}")
        was = session.scalar(text("SELECT current_setting('enable_sort')"))
        session.execute(text("SELECT set_config('enable_sort', 'off', true)"))
        try:
            return [(r[0], tuple(r[1:])) for r in session.execute(sql, {"d": det, "y": year})]
        finally:
            session.execute(text("SELECT set_config('enable_sort', :v, true)"), {"v": was})

    def seconds_between(self, later: str, earlier: str) -> str:
        return f"extract(epoch FROM ({later} - {earlier}))"
