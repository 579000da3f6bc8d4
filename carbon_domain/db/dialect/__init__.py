"""One SQL path per operation: what differs between PostgreSQL and SQLite, behind one interface.

Services never ask which database they run on. They ask the session's dialect for an
operation named by what they want — ``dialect_of(session).relink_primary_factors(session,
mapping)`` — and each engine has one implementation of it: :class:`PostgresDialect`
(``postgres.py``: COPY, array parameters, ``jsonb``, advisory locks, ``SKIP LOCKED``) and
:class:`SqliteDialect` (``sqlite.py``: plain statements and executemany, for the embedded
default, the demo and fast unit tests). ``tests/integration/test_dialects.py`` runs the same
cases against both and compares the resulting rows; ``tests/unit/test_dialect_scan.py`` keeps
dialect checks out of every module outside ``carbon_domain/db/``.

The operations (docs/design.md §8 "One SQL path per operation"):

- transactions and locks: ``xact_lock`` / ``try_xact_lock`` (no-ops on SQLite, whose single
  writer serialises everything), ``snapshot`` (one consistent read for a whole export),
  ``skip_locked`` (the clause that skips rows another transaction holds);
- bulk writes: ``entry_spool`` (uploaded entries: COPY text spilled to disk / executemany),
  ``insert_emission_rows`` (binary COPY into the slice's partition or a stage /
  executemany);
- a full recalculation's stage: ``prepare_slice``, ``finish_stage``, ``swap_stage``,
  ``drop_stage``, ``sweep_stages``, ``lock_types_for_swap`` (PostgreSQL fills a stage table
  and swaps it in as the slice's partition; SQLite rewrites in place: ``prepare_slice``
  answers None);
- a chunk's entries: ``read_entries``, ``delete_emissions_of``, ``hold_entries`` and
  ``relink_primary_factors`` (array parameters / IN lists and one statement per row);
- stats writes: ``write_stats`` and ``stamp_computed_at`` (one ``jsonb_to_recordset``
  UPDATE and ``= ANY(array)`` vs executemany);
- reads: ``module_kg_rows`` (entry-driven LATERAL join / plain join), ``entries_grouped``
  (GROUP BY on JSON keys, hashed), ``seconds_between`` (an SQL expression);
- four capabilities only PostgreSQL has, each with a general path the caller keeps:
  ``staged_upsert`` (factors: COPY into a stage, one ``INSERT … ON CONFLICT``),
  ``exact_sums`` (the folded slice sums need ``numeric`` and ``jsonb``) and ``copy_csv``
  (the server writes an export's CSV) and ``raw_reads`` (rows read as text on the DBAPI
  cursor, arrays aggregated by the server: the preview's reads).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from carbon_domain.db.dialect.postgres import PostgresDialect
from carbon_domain.db.dialect.sqlite import SqliteDialect

__all__ = ["EntrySpool", "PostgresDialect", "SqlDialect", "SqliteDialect", "dialect_of"]

Entries = list[tuple[int, dict[str, Any]]]


class EntrySpool(Protocol):
    """Valid uploaded entry rows, collected then written in one go (``write``); ``count``
    rows of the data entry types ``dets`` so far."""

    count: int
    dets: set[int]

    def add(self, crm: int, det: int, unit: int, data: str) -> None: ...

    def write(self, session: Session) -> None: ...


class SqlDialect(Protocol):
    """The operations whose SQL differs by engine; one implementation per engine."""

    name: str
    staged_upsert: bool
    exact_sums: bool
    copy_csv: bool
    raw_reads: bool  # rows read on the DBAPI cursor as text (bulk.fetch_raw), with arrays

    # -- transactions and locks -----------------------------------------------------------
    def xact_lock(self, session: Session, namespace: int, key: int, *,
                  shared: bool = False) -> None: ...

    def try_xact_lock(self, session: Session, namespace: int, key: int) -> bool: ...

    def snapshot(self, session: Session) -> None: ...

    def skip_locked(self) -> str: ...

    # -- bulk writes ------------------------------------------------------------------------
    def entry_spool(self, year: int, job_id: int) -> EntrySpool: ...

    def insert_emission_rows(self, session: Session, det: int, year: int,
                             rows: list[tuple[Any, ...]], *, into: str | None = None
                             ) -> None: ...

    # -- a full recalculation's stage (PostgreSQL: db/emission_partitions.py) ---------------
    def prepare_slice(self, session: Session, job_id: int, attempt: int, det: int,
                      year: int, *, full: bool, indexed: bool = False) -> str | None: ...

    def finish_stage(self, session: Session, stage: str) -> None: ...

    def swap_stage(self, session: Session, stage: str, det: int, year: int) -> None: ...

    def drop_stage(self, session: Session, stage: str) -> None: ...

    def lock_types_for_swap(self, session: Session, dets: list[int]) -> None: ...

    def sweep_stages(self, session: Session) -> int: ...

    # -- a chunk's entries ------------------------------------------------------------------
    def read_entries(self, session: Session, det: int, year: int, lo: int, hi: int,
                     ids: list[int] | None) -> tuple[Entries, dict[int, int]]: ...

    def delete_emissions_of(self, session: Session, det: int, year: int, ids: list[int], *,
                            into: str | None = None) -> list[tuple[int, int, float]]: ...

    def hold_entries(self, session: Session, det: int, year: int, lo: int, hi: int,
                     ids: list[int] | None) -> set[int]: ...

    def slice_bounds(self, session: Session, det: int, year: int, part: int,
                     parts: int) -> list[int]: ...

    def relink_primary_factors(self, session: Session,
                               relinked: dict[int, int | None]) -> None: ...

    # -- stats writes -----------------------------------------------------------------------
    def write_stats(self, session: Session, table: str,
                    rows: Sequence[tuple[int, Mapping[str, Any]]], now: datetime, *,
                    set_status: bool) -> None:
        """Store each row's stats as given (``stats.stored_form``: no ``computed_at``),
        with ``now`` as its ``stats_computed_at`` and ``last_updated``."""

    def stamp_computed_at(self, session: Session, table: str, ids: list[int],
                          at: datetime) -> None: ...

    # -- reads ------------------------------------------------------------------------------
    def module_kg_rows(self, session: Session, year: int, dets: list[int]
                       ) -> list[tuple[Any, ...]]: ...

    def entries_grouped(self, session: Session, det: int, year: int,
                        keys: tuple[str, ...]) -> list[tuple[list[int], tuple[Any, ...]]]: ...

    def seconds_between(self, later: str, earlier: str) -> str: ...


_DIALECTS: dict[str, SqlDialect] = {"postgresql": PostgresDialect(), "sqlite": SqliteDialect()}


def dialect_of(session: Session) -> SqlDialect:
    """The implementation for the engine the session is bound to."""
    name = session.get_bind().dialect.name
    found = _DIALECTS.get(name)
    if found is None:
        raise ValueError(f"unsupported database engine {name!r}: use PostgreSQL or SQLite")
    return found
