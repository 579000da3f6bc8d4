"""The row engine: a chunk of entries of one type and year → emission rows, entry by entry.

The reference for every type (``engine.compute_batch`` dispatches here unless the type has a
fast path in ``engine_fast``, which must give the same result). The loop works on plain
tuples and dicts: one resolver call, one (memoised) factor lookup and one handler call per
entry, no ORM or pydantic objects. A bad entry never raises out of it: it is reported in
``errors`` and gets no rows, so one bad entry cannot fail a chord.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.emission_types import SCOPE_OF
from carbon_domain.handlers import HANDLERS, Context, EntryError, Part
from carbon_domain.matching import FactorIndex
from carbon_domain.reference import ReferenceData
from carbon_domain.resolvers import RESOLVER_INPUTS, RESOLVERS

logger = logging.getLogger(__name__)

#: (data_entry_id, emission_type_id, scope, kg_co2eq, additional_value, primary_factor_id)
EmissionRow = tuple[int, int, int, float, float | None, int | None]
LINK_KEY = "primary_factor_id"


@dataclass(slots=True)
class BatchResult:
    rows: list[EmissionRow]
    relinked: dict[int, int | None]  # Strategy A: entry id → new data["primary_factor_id"]
    errors: list[tuple[int, str]]    # entry id, reason (bad entry data; no rows)
    missing: list[int]               # no factor matched (strict drop: no rows)
    entries: int
    missing_reasons: dict[int, str] = field(default_factory=dict)  # why, when known


def _stored_link(data: Mapping[str, Any]) -> int | None:
    v = data.get(LINK_KEY)
    try:
        return None if v is None or v == "" else int(v)
    except (TypeError, ValueError):
        return None


def _override(data: Mapping[str, Any]) -> float | None:
    v = data.get(OVERRIDE_KEY)
    if v is None or v == "":
        return None
    try:
        kg = float(v)
    except (TypeError, ValueError):
        raise EntryError(f"kg_co2eq override {v!r} is not a number") from None
    if not math.isfinite(kg) or kg < 0:
        raise EntryError(f"kg_co2eq override {v!r} must be a finite, non-negative number")
    return kg


def _unresolved(det: int, data: Mapping[str, Any]) -> str:
    fields = RESOLVER_INPUTS.get(det, ())
    shown = ", ".join(f"{f}={data.get(f)!r}" for f in fields) or "its data"
    return f"cannot resolve an emission type from {shown}"


def _rows(entry_id: int, parts: list[Part]) -> list[EmissionRow]:
    out: list[EmissionRow] = []
    for et, kg, add, fid in parts:
        scope = SCOPE_OF.get(et)
        if scope is None:  # never store a scope-less (rollup) type
            raise EntryError(f"emission type {et} carries no scope and cannot be stored")
        if not math.isfinite(kg) or (add is not None and not math.isfinite(add)):
            raise EntryError(f"result for emission type {et} is not a finite number")
        out.append((entry_id, et, scope, kg, add, fid))
    return out


def compute_batch_rows(det: int, entries: Iterable[tuple[int, dict[str, Any]]],
                       index: FactorIndex, refs: ReferenceData) -> BatchResult:
    """The row engine, every type's reference: resolver, match and handler per entry."""
    det = int(det)
    res = BatchResult(rows=[], relinked={}, errors=[], missing=[], entries=0)
    compute_into(res, det, entries, index, Context(index=index, refs=refs, year=index.year))
    log_errors(det, res)
    return res


def log_errors(det: int, res: BatchResult) -> None:
    if res.errors:
        logger.warning("type %s: %d of %d entries in error (first: %s)", det, len(res.errors),
                       res.entries, res.errors[0][1])


def compute_into(res: BatchResult, det: int, entries: Iterable[tuple[int, dict[str, Any]]],
                 index: FactorIndex, ctx: Context) -> None:
    """The row engine's loop, appending to ``res`` (a fast path sends its unusual entries
    here one by one, so they get exactly the reference's rows, errors and reasons)."""
    handler, resolve = HANDLERS[det], RESOLVERS[det]
    linked = handler.strategy == "A"
    rows, errors, missing = res.rows, res.errors, res.missing
    n = 0
    for entry_id, data in entries:
        n += 1
        try:
            types = resolve(data)
            if not types:
                errors.append((entry_id, _unresolved(det, data)))
                continue
            factor = None
            if linked:
                factor, reason = index.match(data)
                fid = factor.id if factor is not None else None
                if _stored_link(data) != fid or (fid is None and LINK_KEY in data
                                                 and data[LINK_KEY] is not None):
                    res.relinked[entry_id] = fid
            override = _override(data)
            if override is not None:
                # One row with the operator's kg on the first resolved type, no factor.
                rows.extend(_rows(entry_id, [(types[0], override, None, None)]))
                continue
            if linked and factor is None:
                missing.append(entry_id)
                res.missing_reasons[entry_id] = reason or "no factor"
                continue
            parts = handler.compute(data, types, factor, ctx)
            if not parts:
                missing.append(entry_id)
                res.missing_reasons[entry_id] = "no applicable factor"
                continue
            rows.extend(_rows(entry_id, parts))
        except EntryError as exc:
            errors.append((entry_id, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one bad entry must not fail the chunk
            logger.exception("entry %s of type %s failed", entry_id, det)
            errors.append((entry_id, f"{type(exc).__name__}: {exc}"))
    res.entries += n
