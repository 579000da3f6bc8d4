"""PostgreSQL's raw COPY protocol and DBAPI cursor, for its dialect (``db/dialect/postgres.py``;
which engine does what is decided in ``db/dialect``). COPY goes through the session's raw DBAPI
connection, so its errors are translated here as SQLAlchemy would translate its own (a lost
connection invalidated).

Emission rows are written as binary COPY: it spares the server parsing every number from text
(float8in for two floats per row) and the client formatting them with ``repr``: a member
chunk writes 240,000 rows.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from typing import IO, Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
# data_entry_id int8, emission_type_id int4, scope int4, kg float8, additional_value float8
# (nullable), primary_factor_id int4 (nullable): one struct per NULL pattern.
_FIXED = ">hiqiiiiid"
_ROW = {
    (True, True): struct.Struct(_FIXED + "idii"),
    (True, False): struct.Struct(_FIXED + "idi"),
    (False, True): struct.Struct(_FIXED + "iii"),
    (False, False): struct.Struct(_FIXED + "ii"),
}
_NULL = -1


def copy_escape(value: str) -> str:
    """A value in COPY's text format: backslashes, tabs and line breaks escaped."""
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def emission_rows_binary(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """COPY BINARY payload of (data_entry_id, emission_type_id, scope, kg_co2eq,
    additional_value, primary_factor_id) rows."""
    both, av_only, fid_only, neither = (_ROW[(True, True)].pack, _ROW[(True, False)].pack,
                                        _ROW[(False, True)].pack, _ROW[(False, False)].pack)
    out = [_HEADER]
    add = out.append
    for de, et, scope, kg, av, fid in rows:
        if av is not None:
            if fid is not None:
                add(both(6, 8, de, 4, et, 4, scope, 8, kg, 8, av, 4, fid))
            else:
                add(av_only(6, 8, de, 4, et, 4, scope, 8, kg, 8, av, _NULL))
        elif fid is not None:
            add(fid_only(6, 8, de, 4, et, 4, scope, 8, kg, _NULL, 4, fid))
        else:
            add(neither(6, 8, de, 4, et, 4, scope, 8, kg, _NULL, _NULL))
    add(_TRAILER)
    return b"".join(out)


def copy_from(session: Session, statement: str, payload: io.IOBase | IO[str] | IO[bytes]
              ) -> None:
    """COPY … FROM STDIN on the session's raw DBAPI connection, inside its transaction.

    A lost connection (server restart, ``pg_terminate_backend``) becomes an
    ``OperationalError`` that the task retries, and the dead connection is invalidated so
    the rollback and the retry do not trip over it."""
    _raw(session, statement, lambda cur: cur.copy_expert(statement, payload))


def fetch_raw(session: Session, statement: str, params: tuple[Any, ...]) -> list[Any]:
    """Every row of a query run on the session's raw DBAPI cursor (psycopg2 ``%s``
    parameters), inside its transaction: for reads of 10,000 rows where SQLAlchemy's
    per-row result processing costs as much as the rows themselves."""
    def run(cur: Any) -> list[Any]:
        cur.execute(statement, params)
        return cur.fetchall()  # type: ignore[no-any-return]
    return _raw(session, statement, run)  # type: ignore[no-any-return]


def _raw(session: Session, statement: str, work: Any) -> Any:
    """``work(cursor)`` on the session's DBAPI connection; errors translated as SQLAlchemy
    translates its own (a lost connection invalidated, so the retry reconnects)."""
    conn = session.connection()
    dialect = conn.dialect
    dbapi = dialect.loaded_dbapi
    raw = conn.connection.dbapi_connection
    # The ignores on cursor(): SQLAlchemy types the raw connection as an Optional PEP
    # 249 protocol without __enter__; psycopg2's connection is set and its cursor is one.
    try:
        with raw.cursor() as cur:  # type: ignore[union-attr]
            return work(cur)
    except dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, raw, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(statement, None, exc, dbapi.Error,
                                  connection_invalidated=lost, dialect=dialect) from exc
