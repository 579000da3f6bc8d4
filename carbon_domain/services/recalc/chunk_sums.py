"""What each chunk of a recalculation records toward its (type, year) slice's sums, in its
``recalc_chunks.partials`` (``slice_sums`` folds them): per report module and emission
type, exact decimal kg (a float8 converted as PostgreSQL's ``float8::numeric`` does, 15
significant digits, then added without rounding) and row counts, plus its entries (et 0)
and its entries without a row (et -1).

Three producers, by where the chunk writes: in place, the chunk counts its rows in Python
(``chunk_partials``; an incremental chunk the difference with the rows it deleted); into a
small slice's stage, indexed from the start, each chunk sums its own rows in the server
(``stage_chunk_partials``); into a big slice's stage, the chunks record nothing
(``staged_partials``) and the last one sums the whole stage (``record_stage_sums``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Context, Decimal, localcontext
from operator import itemgetter
from typing import Any, Literal, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

ENTRIES, MISSING = 0, -1  # pseudo emission types: entry count, entries without a row
# Wide enough that no sum of 15-digit float8 values rounds, whatever their magnitudes
# (1e-308 … 1e308: ~640 digits); real sums carry ~30 digits and cost no more for it.
EXACT = Context(prec=700)


def exact(kg: float) -> Decimal:
    """``kg`` as PostgreSQL's float8::numeric gives it (DBL_DIG = 15 significant digits)."""
    return Decimal(format(kg, ".15g"))


class ChunkPartials(TypedDict):
    """A chunk's ``recalc_chunks.partials``: ``full`` sums replace the slice's, ``delta``
    sums add to them; each cell is [report module id, emission type (or ENTRIES /
    MISSING), exact kg as text, row or entry count]."""

    mode: Literal["full", "delta"]
    sums: list[list[int | str]]


def chunk_partials(crm_of: dict[int, int], new_rows: Iterable[Sequence[Any]],
                   old_rows: Iterable[Sequence[Any]] | None) -> ChunkPartials:
    """What a chunk adds to its slice's sums. ``crm_of``: entry id → report module id of
    every entry the chunk read; rows are (entry id, emission type, …, kg at index 3) for
    new rows, (entry id, emission type, kg) for the deleted ``old_rows`` (None: a full
    chunk, whose sums replace the slice's)."""
    # Rows repeat few kg values (a member's 24 rows are fte × per-FTE × EF): count each
    # (module, type, kg) once, convert each kg once. The counting runs in C (Counter over
    # zipped columns): a 10,000-entry chunk's partials, CPU min of 3 with a frozen
    # collector, member (240,000 rows) 143 → ~60 ms, `it` 17.7 → ~11 ms; they were a third
    # of the workers' CPU at 1M.
    new = new_rows if isinstance(new_rows, list) else list(new_rows)
    counts = Counter(zip(map(crm_of.get, map(_FIRST, new)), map(_SECOND, new),
                         map(_FOURTH, new), strict=True))
    with_rows = {e for e in set(map(_FIRST, new)) if crm_of.get(e) is not None}
    gone: Counter[tuple[int | None, Any, float]] = Counter()
    had_rows: set[int] = set()
    if old_rows is not None:
        old = old_rows if isinstance(old_rows, list) else list(old_rows)
        gone = Counter(zip(map(crm_of.get, map(_FIRST, old)), map(_SECOND, old),
                           map(_THIRD, old), strict=True))
        had_rows = {e for e in set(map(_FIRST, old)) if crm_of.get(e) is not None}
    sums: dict[tuple[int, int], list[Any]] = {}
    with localcontext(EXACT):
        memo: dict[float, Decimal] = {}
        for sign, table in ((1, counts), (-1, gone)):
            for (c, et, kg), n in table.items():
                if c is None:
                    continue  # its entry was deleted meanwhile; so were its rows
                d = memo.get(kg)
                if d is None:
                    d = memo[kg] = exact(kg)
                cell = sums.setdefault((c, int(et)), [Decimal(0), 0])
                cell[0] += sign * n * d
                cell[1] += sign * n
        if old_rows is None:
            for crm, n in Counter(crm_of.values()).items():
                sums.setdefault((crm, ENTRIES), [Decimal(0), 0])[1] += n
        # Entries without a row now, minus (delta) those that had none before.
        missing: Counter[int] = Counter(
            crm_of[e] for e in crm_of.keys() - with_rows)
        if old_rows is not None:
            missing.subtract(crm_of[e] for e in crm_of.keys() - had_rows)
        for crm, n in missing.items():
            if n:
                sums.setdefault((crm, MISSING), [Decimal(0), 0])[1] += n
    cells: list[list[int | str]] = [
        [crm, et, str(kg), n] for (crm, et), (kg, n) in sorted(sums.items())
        if old_rows is None or kg != 0 or n != 0]
    return {"mode": "full" if old_rows is None else "delta", "sums": cells}


_FIRST, _SECOND, _THIRD, _FOURTH = (itemgetter(i) for i in range(4))
_CELL_KEY = itemgetter(0, 1)


def staged_partials() -> ChunkPartials:
    """A chunk of a staged full recalculation records no sums of its own: the chunk that
    completes the job records the whole slice's (``record_stage_sums``)."""
    return {"mode": "full", "sums": []}


# Without statistics the planner takes a fresh stage for a few rows and hashes it, not the
# slice's entries, for the join. A large stage's hash spills to disk in many batches: the 8M
# bench's member stage (9.8M rows, 410k entries) summed in 6.13-8.39 s that way and in
# 4.27 s after a 0.15 s ANALYZE (which samples a fixed 30,000 rows). Smaller stages gain
# nothing: 8M student (2.95M rows) 1.86-2.27 s vs 0.13 + 1.82 s; 1M member (1.2M rows)
# 0.66 s vs 0.09 + 0.66 s (2026-12-07, sums hashed as below).
ANALYZE_STAGE_FROM_ROWS = 5_000_000


def record_stage_sums(session: Session, job_id: int, chunk_no: int, det: int, year: int,
                      stage: str) -> None:
    """The slice's sums from its complete stage, in the server, as the partials of the
    job's last chunk (the other chunks' are empty, so the fold's total is the slice's).

    The same cells a rebuild from the rows gives (``_rebuild``: per report module, its
    entries, its kg and rows per emission type, its entries without a row; exact
    ``float8::numeric`` sums), read from the stage the finish will swap in. It replaces the
    per-chunk partials for these jobs: counting 2.7M rows in Python was ~30 % of the
    workers' CPU in a 1M run (py-spy, 2026-12-06); one hash join per slice runs in
    PostgreSQL, in the last chunk, while other slices' chunks still run.

    Hashed, never sorted: the stage has no statistics yet, so the planner guesses the join
    gives ~50k rows and sorts the 1.2M rows of the 1M bench's member stage for a
    GroupAggregate; a HashAggregate of its ~12k cells gives the same cells. 934-1,023 →
    703-727 ms for that stage (2026-12-07; student's 20k entries: unchanged, 258-271 ms).
    ``SET LOCAL … TO DEFAULT`` hands the rest of the chunk's transaction back its setting.

    A stage of ANALYZE_STAGE_FROM_ROWS rows or more is analyzed first (see there)."""
    rows = session.execute(text("SELECT coalesce(sum(rows), 0) FROM recalc_chunks"
                                " WHERE job_id = :j"), {"j": job_id}).scalar_one()
    if int(rows) >= ANALYZE_STAGE_FROM_ROWS:
        session.execute(text(f"ANALYZE {stage}"))
    session.execute(text("SET LOCAL enable_sort = off"))
    session.execute(text(
        "UPDATE recalc_chunks SET partials = jsonb_build_object('mode', 'full', 'sums',"
        " coalesce((SELECT jsonb_agg(jsonb_build_array(t.crm, t.et, t.kg::text, t.n)"
        f"  ORDER BY t.crm, t.et) FROM ({cells_sql(f'{stage} e ON e.data_entry_id = de.id')})"
        " t), '[]'::jsonb)) WHERE job_id = :j AND chunk_no = :c"),
        {"d": det, "y": year, "j": job_id, "c": chunk_no})
    session.execute(text("SET LOCAL enable_sort TO DEFAULT"))


def stage_chunk_partials(session: Session, det: int, year: int, stage: str, lo: int, hi: int,
                         crm_of: dict[int, int]) -> ChunkPartials:
    """One chunk's cells of a small slice's stage, which has its entry index from the start
    (``JobConfig.stage_indexed``): the chunk's entries joined to the rows it just wrote give
    the kg, rows and entries without a row per report module, ``crm_of`` (the entries it
    read and holds) the entry counts — the cells ``record_stage_sums`` gives for the whole
    stage. Summed in each chunk, in parallel, where the whole stage's GROUP BY ran after
    the last chunk, alone: on the 50k `it` slice that was 57 ms of a 0.30 s job, plus 13 ms
    for the index; a 25,000-entry chunk's query is 32 ms (EXPLAIN ANALYZE, 2026-12-07), and
    the entry counts, in SQL another scan of the entries (8 ms), are a Counter here."""
    # The stage side bounded too: without statistics (a fresh stage) the planner might
    # otherwise hash the whole stage for every chunk.
    rows = f"{stage} e ON e.data_entry_id = de.id AND e.data_entry_id BETWEEN :lo AND :hi"
    cells: list[list[int | str]] = [[int(c), int(e), str(k), int(n)] for c, e, k, n in
                                   session.execute(text(
        f"SELECT t.crm, t.et, t.kg::text, t.n FROM ("
        f"{row_cells_sql(rows, ' AND de.id BETWEEN :lo AND :hi')}) t"),
        {"d": det, "y": year, "lo": lo, "hi": hi})]
    cells += [[crm, ENTRIES, "0", n] for crm, n in Counter(crm_of.values()).items()]
    cells.sort(key=_CELL_KEY)
    return {"mode": "full", "sums": cells}


def row_cells_sql(rows: str, where: str = "") -> str:
    """Sum cells (crm, et, kg, n) of a slice's entries LEFT JOINed to ``rows`` (an emission
    row source aliased ``e``, with its join condition): per report module its kg and rows
    per emission type and its entries without a row (et -1), exact ``float8::numeric``
    sums. Parameters :d and :y name the slice; ``where`` narrows the entries (``de``)."""
    return ("SELECT de.carbon_report_module_id AS crm, coalesce(e.emission_type_id, -1) AS et,"
            " coalesce(sum(e.kg_co2eq::numeric), 0) AS kg, count(*) AS n"
            f" FROM data_entries de LEFT JOIN {rows}"
            f" WHERE de.year = :y AND de.data_entry_type_id = :d{where} GROUP BY 1, 2")


def cells_sql(rows: str) -> str:
    """A whole slice's sum cells: ``row_cells_sql`` and, per report module, its entries
    (et 0)."""
    return (row_cells_sql(rows) +
            " UNION ALL SELECT carbon_report_module_id, 0, 0, count(*) FROM data_entries"
            " WHERE year = :y AND data_entry_type_id = :d GROUP BY 1")
