"""The bulk emission engine: a chunk of entries of one type and year → emission rows.

Called by every recalculation chunk. ``compute_batch`` takes the type's fast path when it has
one (``engine_fast``: equipment, purchases, headcount — one multiply per entry) and the row
engine otherwise (``engine_rows``, the reference, also ``compute_batch_rows`` here). A bad
entry never raises out of ``compute_batch``: it is reported in ``errors`` and gets no rows,
so one bad entry cannot fail a chord.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from carbon_domain.engine_fast import FAST_PATHS
from carbon_domain.engine_rows import (
    LINK_KEY,
    BatchResult,
    EmissionRow,
    compute_batch_rows,
    compute_into,
    log_errors,
)
from carbon_domain.handlers import HANDLERS
from carbon_domain.matching import FactorIndex
from carbon_domain.reference import ReferenceData

__all__ = ["LINK_KEY", "BatchResult", "EmissionRow", "compute_batch", "compute_batch_rows",
           "compute_into", "link_factor", "match_factor"]


def compute_batch(det: int, entries: Iterable[tuple[int, dict[str, Any]]], index: FactorIndex,
                  refs: ReferenceData) -> BatchResult:
    """Emission rows for ``entries`` (id, data) of type ``det``, using ``index`` (the
    factors of the report year) and ``refs``. Strategy A links are re-matched, not trusted.

    Types with a fast path (``engine_fast``: equipment, purchases, headcount) take it; it
    gives the same result as ``compute_batch_rows``, the reference, entry for entry."""
    fast = FAST_PATHS.get(int(det))
    if fast is None:
        return compute_batch_rows(det, entries, index, refs)
    res = fast(int(det), entries, index, refs)
    log_errors(det, res)
    return res


def match_factor(det: int, data: Mapping[str, Any], index: FactorIndex) -> tuple[int | None,
                                                                                  str | None]:
    """Strategy A match at ingest: (factor id or None, reason for a miss)."""
    if HANDLERS[int(det)].strategy != "A":
        return None, None
    factor, reason = index.match(data)
    return (factor.id if factor is not None else None), reason


def link_factor(det: int, data: Mapping[str, Any], index: FactorIndex) -> int | None:
    """The factor id to store in ``data["primary_factor_id"]`` (None for Strategy B types)."""
    return match_factor(det, data, index)[0]
