"""Pure-domain fixtures: reference data and a one-call engine runner (no services)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from carbon_domain.catalog import MODULE_OF, DataEntryType
from carbon_domain.csv_rows import parse_factor_row
from carbon_domain.emission_types import SCOPE_OF
from carbon_domain.engine import BatchResult, compute_batch
from carbon_domain.matching import FactorIndex, FactorRecord
from carbon_domain.reference import ReferenceData

Factor = Callable[..., FactorRecord]
Run = Callable[..., BatchResult]


@pytest.fixture(scope="session")
def refs() -> ReferenceData:
    return ReferenceData.build(rooms=[
        ("BC", "BC 125", "libraries", 20.0),
        ("AAB", "AAB 0 01", "office", 35.5),
    ])


@pytest.fixture
def factor() -> Factor:
    """A factor as the ingest would store it: parsed from a CSV-like row, then given an id."""
    def make(det: DataEntryType, fid: int, **cols: Any) -> FactorRecord:
        row = {k: "" if v is None else str(v) for k, v in cols.items()}
        p = parse_factor_row(MODULE_OF[det], det, row)
        return FactorRecord(fid, p.emission_type_id, p.classification, p.values)
    return make


@pytest.fixture
def run(refs: ReferenceData) -> Run:
    """compute_batch over ``entries`` (ids 1..n), checking every row is storable."""
    def go(det: DataEntryType, factors: list[FactorRecord], *entries: dict[str, Any],
           year: int = 2024, ref: ReferenceData | None = None) -> BatchResult:
        index = FactorIndex(det, factors, year=year)
        res = compute_batch(det, list(enumerate(entries, start=1)), index, ref or refs)
        for row in res.rows:
            assert SCOPE_OF[row[1]] is not None and row[2] == SCOPE_OF[row[1]], row
        return res
    return go


