"""Two I/O floors: read the year's entries and write the same emission rows with COPY, in one
connection, no orchestration. The rows are computed beforehand (untimed) by the same engine,
so the floors write exactly what the pipeline must write.

- **hardware floor**: COPY into an empty table with the same indexes as
  ``data_entry_emissions`` but no foreign keys or triggers (``LIKE … INCLUDING INDEXES``):
  what this machine's PostgreSQL can absorb at best.
- **FK floor** (the previous definition): the same table plus the two foreign keys the schema
  used to carry (``data_entry_id`` → entries, ``primary_factor_id`` → factors), pre-filled,
  timed DELETE + COPY: a rewrite paying two FK checks per row.

Both tables are scratch tables of the bench database, dropped afterwards.
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
from typing import Any

from sqlalchemy.engine import make_url

_COLUMNS = ("data_entry_id, data_entry_type_id, year, emission_type_id, scope, kg_co2eq,"
            " additional_value, primary_factor_id")


def raw_connect(database_url: str) -> Any:
    import psycopg2

    u = make_url(database_url)
    return psycopg2.connect(host=u.host, port=u.port or 5432, user=u.username,
                            password=u.password, dbname=u.database)


def compute_rows(database_url: str, year: int) -> tuple[io.StringIO, int, float]:
    """Every emission row of the year as COPY text, computed in-process by the engine."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.engine import compute_batch
    from carbon_domain.services.inputs.slices import load_factor_index, load_reference_data

    conn = raw_connect(database_url)
    by_det: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    with conn.cursor(name="entries") as cur:  # server-side cursor: bounded memory
        cur.itersize = 50_000
        cur.execute("SELECT data_entry_type_id, id, data FROM data_entries WHERE year = %s"
                    " ORDER BY id", (year,))
        for det, i, data in cur:
            by_det[det].append((i, data))
    conn.close()
    buf = io.StringIO()
    n, kg = 0, 0.0
    null = "\\N"
    with session_scope() as s:
        refs = load_reference_data(s)
        for det, entries in by_det.items():
            index = load_factor_index(s, det, year)
            res = compute_batch(det, entries, index, refs)
            for de, et, scope, k, av, fid in res.rows:
                buf.write(f"{de}\t{det}\t{year}\t{et}\t{scope}\t{k!r}\t"
                          f"{null if av is None else repr(av)}\t"
                          f"{null if fid is None else fid}\n")
                n += 1
                kg += k
    return buf, n, kg


def _read_entries(cur: Any, year: int) -> float:
    t0 = time.perf_counter()
    sink = io.StringIO()
    cur.copy_expert(f"COPY (SELECT id, data FROM data_entries WHERE year = {int(year)}"
                    " ORDER BY id) TO STDOUT", sink)
    return time.perf_counter() - t0


def _count_kg(cur: Any, table: str) -> tuple[int, float]:
    cur.execute(f"SELECT count(*), coalesce(sum(kg_co2eq), 0) FROM {table}")
    n, kg = cur.fetchone()
    return int(n), float(kg)


def run_hardware_floor(database_url: str, year: int, rows: io.StringIO) -> dict[str, float]:
    """Read the entries, COPY the rows into an empty FK-less twin of the emission table."""
    conn = raw_connect(database_url)
    out: dict[str, float] = {}
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_floor_hw")
        cur.execute("CREATE TABLE bench_floor_hw (LIKE data_entry_emissions INCLUDING DEFAULTS"
                    " INCLUDING INDEXES)")
        conn.commit()
        out["read_s"] = _read_entries(cur, year)
        t1 = time.perf_counter()
        rows.seek(0)
        cur.copy_expert(f"COPY bench_floor_hw ({_COLUMNS}) FROM STDIN", rows)
        conn.commit()
        out["write_s"] = time.perf_counter() - t1
        out["check_rows"], out["check_kg"] = _count_kg(cur, "bench_floor_hw")
        cur.execute("DROP TABLE bench_floor_hw")
        conn.commit()
    conn.close()
    out["seconds"] = out["read_s"] + out["write_s"]
    return out


def run_fk_floor(database_url: str, year: int, rows: io.StringIO) -> dict[str, float]:
    """Read the entries, DELETE + COPY the rows in a twin carrying the two foreign keys."""
    conn = raw_connect(database_url)
    out: dict[str, float] = {}
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_floor_fk")
        cur.execute("CREATE TABLE bench_floor_fk (LIKE data_entry_emissions INCLUDING DEFAULTS"
                    " INCLUDING INDEXES)")
        cur.execute("ALTER TABLE bench_floor_fk ADD FOREIGN KEY (data_entry_id)"
                    " REFERENCES data_entries (id) ON DELETE CASCADE,"
                    " ADD FOREIGN KEY (primary_factor_id) REFERENCES factors (id)"
                    " ON DELETE CASCADE")
        rows.seek(0)
        cur.copy_expert(f"COPY bench_floor_fk ({_COLUMNS}) FROM STDIN", rows)  # the old rows
        conn.commit()
        out["read_s"] = _read_entries(cur, year)
        t1 = time.perf_counter()
        cur.execute("DELETE FROM bench_floor_fk")
        rows.seek(0)
        cur.copy_expert(f"COPY bench_floor_fk ({_COLUMNS}) FROM STDIN", rows)
        conn.commit()
        out["write_s"] = time.perf_counter() - t1
        out["check_rows"], out["check_kg"] = _count_kg(cur, "bench_floor_fk")
        cur.execute("DROP TABLE bench_floor_fk")
        conn.commit()
    conn.close()
    out["seconds"] = out["read_s"] + out["write_s"]
    return out


def emission_totals(database_url: str, year: int, det: int | None = None) -> tuple[int, float]:
    conn = raw_connect(database_url)
    extra = "" if det is None else f" AND d.data_entry_type_id = {int(det)}"
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(sum(e.kg_co2eq), 0) FROM data_entry_emissions e"
                    " JOIN data_entries d ON d.id = e.data_entry_id WHERE d.year = %s" + extra,
                    (year,))
        n, kg = cur.fetchone()
    conn.close()
    return int(n), float(kg)


def same_totals(a: tuple[int, float], b: tuple[int, float]) -> bool:
    return a[0] == b[0] and abs(a[1] - b[1]) <= 1e-6 * max(1.0, abs(b[1]))


def totals_by_type(database_url: str, year: int) -> dict[int, tuple[int, float]]:
    """Emission rows and total kg per data entry type of the year."""
    conn = raw_connect(database_url)
    with conn.cursor() as cur:
        cur.execute("SELECT d.data_entry_type_id, count(*), coalesce(sum(e.kg_co2eq), 0)"
                    " FROM data_entry_emissions e JOIN data_entries d ON d.id = e.data_entry_id"
                    " WHERE d.year = %s GROUP BY 1", (year,))
        out = {int(t): (int(n), float(kg)) for t, n, kg in cur.fetchall()}
    conn.close()
    return out


def types_differing(a: dict[int, tuple[int, float]],
                    b: dict[int, tuple[int, float]]) -> list[int]:
    """The types whose rows or total kg differ between two totals_by_type()."""
    return sorted(t for t in set(a) | set(b)
                  if not same_totals(a.get(t, (0, 0.0)), b.get(t, (0, 0.0))))
