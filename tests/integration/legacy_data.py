"""Data an upload now refuses, as a deployment loaded before the number limits may still hold
it (carbon_domain/numbers.py, docs/uploads.md#number-limits).

An amount of 1e308 CHF used to land as an entry; its recalculation computed kg near the
largest double and a unit's sum of them overflowed ("✗ totals not updated"). An upload refuses
such a row now, so the tests of what the surfaces say about an aggregation that fails store
it the way it was stored then: loaded within the limits, then given its old value in place.
"""

from __future__ import annotations

from sqlalchemy import text

from carbon_domain.db.session import session_scope


def set_entry_values(*, det: int, year: int, unit_id: str, column: str, value: float) -> int:
    """Give ``column`` of every entry of type ``det`` in ``year`` of the unit whose
    institutional id is ``unit_id`` the value ``value``, in place (no upload, no job: the
    status does not see it, an operator's recalculation of the type reads it). Returns the
    number of entries changed."""
    with session_scope() as s:
        n = s.execute(text(
            "UPDATE data_entries d SET data = jsonb_set(d.data, ARRAY[:col], to_jsonb(:v))"
            " FROM units u WHERE u.id = d.unit_id AND u.institutional_id = :unit"
            " AND d.data_entry_type_id = :det AND d.year = :y"),
            {"col": column, "v": float(value), "unit": unit_id, "det": det, "y": year}
        ).rowcount
    return int(n)
