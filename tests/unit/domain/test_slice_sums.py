"""Chunk partial sums (services/recalc/chunk_sums.py) are exact: summed over any partition of the
entries they equal the sums over all of them, and a delta chunk turns the old sums into
the new ones exactly — what lets an aggregation fold chunks instead of scanning rows."""

from __future__ import annotations

from decimal import Context, Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from carbon_domain.services.recalc.chunk_sums import ENTRIES, MISSING, chunk_partials, exact

# The test's own sums must not round either (the module folds with the same precision).
WIDE = Context(prec=700)
kg = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
# entry id → (report module, [(emission type, kg), …]) ; no rows = missing factor
universe = st.dictionaries(
    st.integers(1, 400), st.tuples(st.integers(1, 4), st.lists(
        st.tuples(st.sampled_from([10001, 10002, 80200]), kg), max_size=3)),
    min_size=1, max_size=60)


def _rows(u: dict[int, tuple[int, list[tuple[int, float]]]], ids: list[int]) -> list[tuple]:
    return [(e, et, 2, k, None, 1) for e in ids for et, k in u[e][1]]


def _fold(cells: list[dict]) -> dict[tuple[int, int], tuple[Decimal, int]]:
    out: dict[tuple[int, int], list] = {}
    with localcontext(WIDE):
        for p in cells:
            for crm, et, k, n in p["sums"]:
                c = out.setdefault((crm, et), [Decimal(0), 0])
                c[0] += Decimal(k)
                c[1] += n
    return {key: (v[0], v[1]) for key, v in out.items() if v[1] or v[0]}


@settings(max_examples=200, deadline=None)
@given(u=universe, cut=st.integers(1, 59), data=st.data())
def test_partition_and_delta_are_exact(u, cut, data) -> None:  # type: ignore[no-untyped-def]
    ids = sorted(u)
    crm_of = {e: u[e][0] for e in ids}
    whole = _fold([chunk_partials(crm_of, _rows(u, ids), None)])
    parts = [ids[:cut], ids[cut:]]
    split = _fold([chunk_partials({e: crm_of[e] for e in p}, _rows(u, p), None)
                   for p in parts if p])
    assert split == whole
    # Expected by hand: exact decimal sums, entry counts, entries without a row.
    expected: dict[tuple[int, int], list] = {}
    with localcontext(WIDE):
        for e in ids:
            crm, rows = u[e]
            expected.setdefault((crm, ENTRIES), [Decimal(0), 0])[1] += 1
            if not rows:
                expected.setdefault((crm, MISSING), [Decimal(0), 0])[1] += 1
            for et, k in rows:
                c = expected.setdefault((crm, et), [Decimal(0), 0])
                c[0] += exact(k)
                c[1] += 1
    assert whole == {key: (v[0], v[1]) for key, v in expected.items()}
    # A delta chunk over some entries: old sums + delta == sums of the new universe.
    changed = data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)))
    new_u = dict(u)
    for e in changed:
        new_u[e] = (u[e][0], data.draw(st.lists(
            st.tuples(st.sampled_from([10001, 80200]), kg), max_size=2)))
    old_rows = [(e, et, k) for e in changed for et, k in u[e][1]]
    delta = chunk_partials({e: crm_of[e] for e in changed}, _rows(new_u, sorted(changed)),
                           old_rows)
    assert delta["mode"] == "delta"
    folded = _fold([chunk_partials(crm_of, _rows(u, ids), None), delta])
    assert folded == _fold([chunk_partials(crm_of, _rows(new_u, ids), None)])


def test_exact_matches_postgres_float8_to_numeric() -> None:
    # PostgreSQL converts float8 → numeric with DBL_DIG (15) significant digits.
    assert exact(0.1 + 0.2) == Decimal("0.3")
    assert exact(1234.5678901234567) == Decimal("1234.56789012346")
    assert exact(1e-7) == Decimal("1E-7")


def _reference_partials(crm_of, new_rows, old_rows):  # type: ignore[no-untyped-def]
    """The per-row loop chunk_partials replaced (commit 221d6ec): the C-level counting must
    give the very same cells, strings included."""
    counts: dict = {}
    with_rows: set = set()
    last, crm = None, None
    for entry, et, _scope, k, *_ in new_rows:
        if entry != last:
            last, crm = entry, crm_of.get(entry)
            if crm is not None:
                with_rows.add(entry)
        if crm is None:
            continue
        counts[(crm, et, k)] = counts.get((crm, et, k), 0) + 1
    gone: dict = {}
    had_rows: set = set()
    for entry, et, k in old_rows or ():
        c = crm_of.get(entry)
        if c is not None:
            gone[(c, et, k)] = gone.get((c, et, k), 0) + 1
            had_rows.add(entry)
    sums: dict = {}
    with localcontext(WIDE):
        for sign, table in ((1, counts), (-1, gone)):
            for (c, et, k), n in table.items():
                cell = sums.setdefault((c, int(et)), [Decimal(0), 0])
                cell[0] += sign * n * exact(k)
                cell[1] += sign * n
        for entry, crm in crm_of.items():
            extra = [1 if old_rows is None else 0, 0 if entry in with_rows else 1,
                     1 if old_rows is not None and entry not in had_rows else 0]
            if extra[0]:
                sums.setdefault((crm, ENTRIES), [Decimal(0), 0])[1] += 1
            if extra[1] - extra[2]:
                sums.setdefault((crm, MISSING), [Decimal(0), 0])[1] += extra[1] - extra[2]
    return {"mode": "full" if old_rows is None else "delta",
            "sums": [[crm, et, str(k), n] for (crm, et), (k, n) in sorted(sums.items())
                     if old_rows is None or k != 0 or n != 0]}


# Repeated kg values (a member's rows), negatives, zeros, tiny and huge magnitudes.
any_kg = st.one_of(st.sampled_from([0.0, -0.0, 1.5, 2.25, -3.0, 1e-9, 1e300]),
                   st.floats(allow_nan=False, allow_infinity=False))
row_sets = st.lists(st.tuples(st.integers(1, 30), st.sampled_from([10001, 10002, 80200]),
                              any_kg), max_size=80)


@settings(max_examples=400, deadline=None)
@given(rows=row_sets, old=st.one_of(st.none(), row_sets),
       crm_of=st.dictionaries(st.integers(1, 40), st.integers(1, 5), max_size=40))
def test_counting_in_c_gives_the_per_row_loops_cells(rows, old, crm_of) -> None:  # type: ignore[no-untyped-def]
    # Rows arrive grouped by entry, as a chunk writes them; entries missing from crm_of
    # were deleted meanwhile (their rows must not count).
    new_rows = sorted(((e, et, 2, k, None, 1) for e, et, k in rows), key=lambda r: r[0])
    old_rows = None if old is None else [(e, et, k) for e, et, k in old]
    assert chunk_partials(crm_of, new_rows, old_rows) == _reference_partials(
        crm_of, new_rows, old_rows)
    # Any iterable, not only lists (the engine's rows may be a generator).
    assert chunk_partials(crm_of, iter(new_rows), None if old_rows is None
                          else iter(old_rows)) == _reference_partials(crm_of, new_rows,
                                                                      old_rows)
