"""The I/O floor: read the slice's entries and write the same emission rows with COPY, in
one connection, no orchestration. The rows are computed beforehand (untimed) by the same
engine, so the floor writes exactly what the pipeline must write."""

from __future__ import annotations

import io
import time
from collections import defaultdict
from typing import Any

from sqlalchemy.engine import make_url


def raw_connect(database_url: str) -> Any:
    import psycopg2

    u = make_url(database_url)
    return psycopg2.connect(host=u.host, port=u.port or 5432, user=u.username,
                            password=u.password, dbname=u.database)


def compute_rows(database_url: str, year: int) -> tuple[io.StringIO, int, float]:
    """Every emission row of the year as COPY text, computed in-process by the engine."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.engine import compute_batch
    from carbon_domain.services.slices import load_factor_index, load_reference_data

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
                buf.write(f"{de}\t{et}\t{scope}\t{k!r}\t{null if av is None else repr(av)}\t"
                          f"{null if fid is None else fid}\n")
                n += 1
                kg += k
    return buf, n, kg


def run_floor(database_url: str, year: int, rows: io.StringIO) -> dict[str, float]:
    conn = raw_connect(database_url)
    out: dict[str, float] = {}
    with conn.cursor() as cur:
        t0 = time.perf_counter()
        sink = io.StringIO()
        cur.copy_expert(f"COPY (SELECT id, data FROM data_entries WHERE year = {int(year)}"
                        " ORDER BY id) TO STDOUT", sink)
        out["read_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        cur.execute("DELETE FROM data_entry_emissions e USING data_entries d"
                    " WHERE e.data_entry_id = d.id AND d.year = %s", (year,))
        rows.seek(0)
        cur.copy_expert("COPY data_entry_emissions (data_entry_id, emission_type_id, scope,"
                        " kg_co2eq, additional_value, primary_factor_id) FROM STDIN", rows)
        conn.commit()
        out["write_s"] = time.perf_counter() - t1
    conn.close()
    out["seconds"] = out["read_s"] + out["write_s"]
    return out


def emission_totals(database_url: str, year: int) -> tuple[int, float]:
    conn = raw_connect(database_url)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(sum(e.kg_co2eq), 0) FROM data_entry_emissions e"
                    " JOIN data_entries d ON d.id = e.data_entry_id WHERE d.year = %s", (year,))
        n, kg = cur.fetchone()
    conn.close()
    return int(n), float(kg)

