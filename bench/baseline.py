"""The per-entry loop of the system we replace: load an entry, look up its factor(s),
delete and insert its rows, commit — one entry at a time."""

from __future__ import annotations

import time

from bench.floor import raw_connect

STRATEGY_A_LINK = "primary_factor_id"


def run_baseline(database_url: str, year: int, sample: int) -> dict[str, float]:
    from carbon_domain.db.session import session_scope
    from carbon_domain.engine import compute_batch
    from carbon_domain.matching import FactorIndex, FactorRecord
    from carbon_domain.services.inputs.slices import load_reference_data

    with session_scope() as s:
        refs = load_reference_data(s)
    conn = raw_connect(database_url)
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM data_entries WHERE year = %s", (year,))
    total = cur.fetchone()[0]
    step = max(total // sample, 1)
    cur.execute("SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) rn FROM"
                " data_entries WHERE year = %s) t WHERE rn %% %s = 0 LIMIT %s",
                (year, step, sample))
    ids = [r[0] for r in cur.fetchall()]
    conn.commit()
    rows_written = 0
    t0 = time.perf_counter()
    for entry_id in ids:
        cur.execute("SELECT data_entry_type_id, data FROM data_entries WHERE id = %s",
                    (entry_id,))
        det, data = cur.fetchone()
        link = data.get(STRATEGY_A_LINK)
        if link is not None:
            cur.execute("SELECT id, emission_type_id, classification, values FROM factors"
                        " WHERE id = %s", (link,))
        else:
            cur.execute("SELECT id, emission_type_id, classification, values FROM factors"
                        " WHERE data_entry_type_id = %s AND year = %s", (det, year))
        records = [FactorRecord(*r) for r in cur.fetchall()]
        res = compute_batch(det, [(entry_id, data)], FactorIndex(det, records, year=year), refs)
        cur.execute("DELETE FROM data_entry_emissions WHERE data_entry_id = %s"
                    " AND data_entry_type_id = %s AND year = %s", (entry_id, det, year))
        for de, et, scope, kg, av, fid in res.rows:
            cur.execute("INSERT INTO data_entry_emissions (data_entry_id, data_entry_type_id,"
                        " year, emission_type_id, scope, kg_co2eq, additional_value,"
                        " primary_factor_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (de, det, year, et, scope, kg, av, fid))
            rows_written += 1
        conn.commit()
    seconds = time.perf_counter() - t0
    conn.close()
    return {"entries": len(ids), "rows": rows_written, "seconds": seconds,
            "entries_per_s": len(ids) / seconds if seconds else 0.0}

