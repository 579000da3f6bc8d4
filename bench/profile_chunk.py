"""Where a chunk's time goes: `python -m bench.profile_chunk [--det 62] [--size 10000]`.

Runs the same steps as `recalculate_chunk` on one id range of an already seeded bench
database, timing each, with pyinstrument over the whole, then rolls back (nothing changes).
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.profile_chunk")
    p.add_argument("--database-url",
                   default="postgresql+psycopg2://postgres@127.0.0.1:5432/carbon_bench")
    p.add_argument("--det", type=int, default=62)
    p.add_argument("--year", type=int, default=2025)
    p.add_argument("--size", type=int, default=10_000)
    a = p.parse_args()
    os.environ["CARBON_DATABASE_URL"] = a.database_url
    from pyinstrument import Profiler
    from sqlalchemy import text

    from carbon_domain.db.session import new_session
    from carbon_domain.engine import compute_batch
    from carbon_domain.services.inputs.slices import load_slice_context
    from carbon_domain.services.recalc.chunk_io import read_entries, write_rows

    s = new_session()
    lo, hi = s.execute(text(
        "SELECT min(id), max(id) FROM (SELECT id FROM data_entries WHERE data_entry_type_id ="
        " :d AND year = :y ORDER BY id LIMIT :n) t"), {"d": a.det, "y": a.year, "n": a.size}).one()
    load_slice_context(s, a.det, a.year)  # warm the per-process caches, as a worker has them
    steps: dict[str, float] = {}
    prof = Profiler()
    prof.start()
    t = time.perf_counter()
    ctx = load_slice_context(s, a.det, a.year)
    steps["load context (cached)"] = time.perf_counter() - t
    t = time.perf_counter()
    entries = read_entries(s, a.det, a.year, lo, hi)
    steps["read entries"] = time.perf_counter() - t
    t = time.perf_counter()
    res = compute_batch(a.det, entries, ctx.index, ctx.refs)
    steps["compute (engine)"] = time.perf_counter() - t
    t = time.perf_counter()
    s.execute(text("DELETE FROM data_entry_emissions WHERE data_entry_id IN (SELECT id FROM"
                   " data_entries WHERE data_entry_type_id = :d AND year = :y AND id BETWEEN"
                   " :lo AND :hi)"), {"d": a.det, "y": a.year, "lo": lo, "hi": hi})
    steps["delete old rows"] = time.perf_counter() - t
    t = time.perf_counter()
    write_rows(s, a.det, a.year, res.rows)
    steps["COPY new rows"] = time.perf_counter() - t
    prof.stop()
    s.rollback()
    total = sum(steps.values())
    print(f"chunk: det {a.det}, {len(entries):,} entries, {len(res.rows):,} rows,"
          f" {total:.3f} s")
    for k, v in steps.items():
        print(f"  {k:28} {v:7.3f} s  {v / total:6.1%}")
    print(prof.output_text(unicode=False, color=False, show_all=False)[:3000])


if __name__ == "__main__":
    main()
