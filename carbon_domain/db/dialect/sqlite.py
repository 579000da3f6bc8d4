"""SQLite's side of every dialect operation (the interface: ``db/dialect/__init__.py``): plain
statements and executemany, for the embedded default, the demo and the fast unit tests. Its
single writer already serialises every transaction, so the locks are no-ops."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from carbon_domain.db.base import UTCDateTime

Entries = list[tuple[int, dict[str, Any]]]

_TS = UTCDateTime()  # binds a datetime the way the ORM stores it
# SQLite has no LATERAL; its planner already drives from the filtered side.
_KG_ROWS = (
    "SELECT de.carbon_report_module_id, e.emission_type_id, SUM(e.kg_co2eq), count(*)"
    " FROM data_entries de LEFT JOIN data_entry_emissions e ON e.data_entry_id = de.id"
    " WHERE de.year = :y AND de.data_entry_type_id IN :dets GROUP BY 1, 2")


class _EntrySpool:
    def __init__(self, year: int, job_id: int) -> None:
        self.count = 0
        self.dets: set[int] = set()
        self._year, self._job = year, job_id
        self._rows: list[dict[str, Any]] = []

    def add(self, crm: int, det: int, unit: int, data: str) -> None:
        self.count += 1
        self.dets.add(det)
        self._rows.append({"c": crm, "d": det, "j": data, "y": self._year, "u": unit,
                           "job": self._job})

    def write(self, session: Session) -> None:
        if not self._rows:
            return
        session.execute(text(
            "INSERT INTO data_entries (carbon_report_module_id, data_entry_type_id, data,"
            " source, year, unit_id, created_by_job_id, created_at, updated_at) VALUES (:c,"
            " :d, :j, 'csv', :y, :u, :job, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), self._rows)


class SqliteDialect:
    name = "sqlite"
    staged_upsert = False
    exact_sums = False
    copy_csv = False
    raw_reads = False

    # -- transactions and locks -----------------------------------------------------------
    def xact_lock(self, session: Session, namespace: int, key: int, *,
                  shared: bool = False) -> None:
        return None

    def try_xact_lock(self, session: Session, namespace: int, key: int) -> bool:
        return True

    def snapshot(self, session: Session) -> None:
        return None  # a read transaction already sees one snapshot (WAL)

    def skip_locked(self) -> str:
        return ""

    # -- bulk writes ------------------------------------------------------------------------
    def entry_spool(self, year: int, job_id: int) -> _EntrySpool:
        return _EntrySpool(year, job_id)

    def insert_emission_rows(self, session: Session, det: int, year: int,
                             rows: list[tuple[Any, ...]], *, into: str | None = None) -> None:
        session.execute(text(
            "INSERT INTO data_entry_emissions (data_entry_id, data_entry_type_id, year,"
            " emission_type_id, scope, kg_co2eq, additional_value, primary_factor_id,"
            " computed_at) VALUES (:a, :det, :year, :b, :c, :d, :e, :f, CURRENT_TIMESTAMP)"),
            [{"a": r[0], "b": r[1], "c": r[2], "d": r[3], "e": r[4], "f": r[5], "det": det,
              "year": year} for r in rows])

    # -- a full recalculation's stage: none, one table rewritten in place -----------------
    def prepare_slice(self, session: Session, job_id: int, attempt: int, det: int,
                      year: int, *, full: bool, indexed: bool = False) -> str | None:
        return None

    def finish_stage(self, session: Session, stage: str) -> None:
        raise NotImplementedError("SQLite rewrites slices in place (no stage)")

    def swap_stage(self, session: Session, stage: str, det: int, year: int) -> None:
        raise NotImplementedError("SQLite rewrites slices in place (no stage)")

    def drop_stage(self, session: Session, stage: str) -> None:
        return None

    def lock_types_for_swap(self, session: Session, dets: list[int]) -> None:
        return None

    def sweep_stages(self, session: Session) -> int:
        return 0

    # -- a chunk's entries ------------------------------------------------------------------
    def read_entries(self, session: Session, det: int, year: int, lo: int, hi: int,
                     ids: list[int] | None) -> tuple[Entries, dict[int, int]]:
        cols = "SELECT id, data, carbon_report_module_id FROM data_entries"
        if ids is not None:
            rows = session.execute(text(
                f"{cols} WHERE data_entry_type_id = :d AND year = :y AND id IN :ids"
                " ORDER BY id").bindparams(bindparam("ids", expanding=True)),
                {"d": det, "y": year, "ids": ids})
        else:
            rows = session.execute(text(
                f"{cols} WHERE data_entry_type_id = :d AND year = :y AND id BETWEEN :lo"
                " AND :hi ORDER BY id"), {"d": det, "y": year, "lo": lo, "hi": hi})
        entries, crm_of = [], {}
        for i, data, crm in rows:
            entries.append((i, json.loads(data) if isinstance(data, str) else data))
            crm_of[i] = crm
        return entries, crm_of

    def delete_emissions_of(self, session: Session, det: int, year: int, ids: list[int], *,
                            into: str | None = None) -> list[tuple[int, int, float]]:
        return [tuple(r) for r in session.execute(text(
            "DELETE FROM data_entry_emissions WHERE data_entry_id IN :ids"
            " RETURNING data_entry_id, emission_type_id, kg_co2eq")
            .bindparams(bindparam("ids", expanding=True)), {"ids": ids})]

    def hold_entries(self, session: Session, det: int, year: int, lo: int, hi: int,
                     ids: list[int] | None) -> set[int]:
        """The chunk's entries that still exist (no row lock: the single writer holds)."""
        if ids is not None:
            q = text("SELECT id FROM data_entries WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True))
            params: dict[str, Any] = {"ids": ids}
        else:
            q = text("SELECT id FROM data_entries WHERE data_entry_type_id = :d AND year = :y"
                     " AND id BETWEEN :lo AND :hi")
            params = {"d": det, "y": year, "lo": lo, "hi": hi}
        return {i for (i,) in session.execute(q, params)}

    def slice_bounds(self, session: Session, det: int, year: int, part: int,
                     parts: int) -> list[int]:
        """The first id of each ``part``-entry run of the slice, in id order."""
        return [r[0] for r in session.execute(text(
            "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM data_entries"
            " WHERE data_entry_type_id = :d AND year = :y) t WHERE (rn - 1) % :cs = 0"
            " ORDER BY id"), {"d": det, "y": year, "cs": part})]

    def relink_primary_factors(self, session: Session,
                               relinked: dict[int, int | None]) -> None:
        session.execute(text(
            "UPDATE data_entries SET data = json_set(data, '$.primary_factor_id', :f),"
            " updated_at = CURRENT_TIMESTAMP WHERE id = :i"),
            [{"i": k, "f": v} for k, v in relinked.items()])

    # -- stats writes -----------------------------------------------------------------------
    def write_stats(self, session: Session, table: str,
                    rows: Sequence[tuple[int, Mapping[str, Any]]], now: datetime, *,
                    set_status: bool) -> None:
        status = ", status = 1" if set_status else ""
        session.execute(text(
            f"UPDATE {table} SET stats = :stats, stats_computed_at = :now, last_updated = :now"
            f"{status} WHERE id = :id").bindparams(bindparam("now", type_=_TS)),
            [{"id": i, "stats": json.dumps(st), "now": now} for i, st in rows])

    def stamp_computed_at(self, session: Session, table: str, ids: list[int],
                          at: datetime) -> None:
        session.execute(text(
            f"UPDATE {table} SET stats_computed_at = :at WHERE id = :id AND stats IS NOT NULL"
        ).bindparams(bindparam("at", type_=_TS)), [{"id": i, "at": at} for i in ids])

    # -- reads ------------------------------------------------------------------------------
    def module_kg_rows(self, session: Session, year: int, dets: list[int]
                       ) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in session.execute(
            text(_KG_ROWS).bindparams(bindparam("dets", expanding=True)),
            {"y": year, "dets": dets})]

    def entries_grouped(self, session: Session, det: int, year: int,
                        keys: tuple[str, ...]) -> list[tuple[list[int], tuple[Any, ...]]]:
        """One row per entry (id, value of each key): SQLite has no array_agg to group on."""
        cols = ", ".join(f"json_extract(data, '$.{k}')" for k in keys)
        return [([r[0]], tuple(r[1:])) for r in session.execute(text(
            f"SELECT id, {cols} FROM data_entries WHERE data_entry_type_id = :d AND year = :y"),
            {"d": det, "y": year})]

    def seconds_between(self, later: str, earlier: str) -> str:
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"
