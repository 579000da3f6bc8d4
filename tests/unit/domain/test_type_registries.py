"""Every data entry type has a resolver, a handler and CSV schemas (adding one without fails)."""

from __future__ import annotations

import pytest

from carbon_domain.catalog import MODULE_OF, DataEntryType
from carbon_domain.csv_rows import (
    ENTRY_SCHEMAS,
    FACTOR_SCHEMAS,
    entry_columns,
    entry_header_problem,
    factor_columns,
    factor_header_problem,
)
from carbon_domain.handlers import HANDLERS
from carbon_domain.matching import STRATEGY_A, STRATEGY_B
from carbon_domain.resolvers import FACTOR_RESOLVERS, RESOLVERS, resolve_factor_emission_type


@pytest.mark.parametrize("det", list(DataEntryType), ids=lambda d: d.name)
def test_type_is_fully_registered(det):
    assert det in RESOLVERS and det in HANDLERS and det in FACTOR_SCHEMAS
    assert det in ENTRY_SCHEMAS
    handler = HANDLERS[det]
    assert handler.det == det and callable(handler.compute)
    assert (det in STRATEGY_A) == (handler.strategy == "A")
    assert (det in STRATEGY_B) == (handler.strategy == "B")
    # A header made of exactly the schema's columns is accepted.
    module = MODULE_OF[det]
    assert factor_header_problem(module, det, factor_columns(det)) is None
    assert entry_header_problem(module, det, entry_columns(det), require_unit=False) is None


@pytest.mark.parametrize("det", list(DataEntryType), ids=lambda d: d.name)
def test_factor_type_is_resolvable_or_static(det):
    if det in FACTOR_RESOLVERS:
        return
    assert resolve_factor_emission_type(det, {}) is not None


def test_strategies_partition_the_types():
    assert STRATEGY_A | STRATEGY_B == set(DataEntryType) and not STRATEGY_A & STRATEGY_B
