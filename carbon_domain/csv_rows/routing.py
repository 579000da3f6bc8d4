"""Which data entry type a CSV row belongs to.

Order: the upload's ``data_entry_type_id``; else a module with one type needs nothing; else a
routing column — the generic ``data_entry_type`` (name or id, any module), or the legacy
``equipment_category`` (scientific / it / other) and ``purchase_category`` (module 5 names).
A row whose routing column names another type than the upload's is rejected: that file mixes
types the operator did not mean to send.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.csv_rows.fields import RowError, cell, shown

ROUTING_COLUMNS = ("data_entry_type", "equipment_category", "purchase_category")


@lru_cache(maxsize=4096)
def _by_name(value: str, dets: tuple[DataEntryType, ...]) -> DataEntryType | None:
    # Cached: a file repeats a handful of routing values over thousands of rows.
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    for det in dets:
        if key in (det.name, str(int(det))):
            return det
    # Legacy short purchase names seen in files ("other" for other_purchases, "additional").
    found = [d for d in dets if d.name.startswith(key + "_") or d.name.endswith("_" + key)]
    return found[0] if len(found) == 1 else None


def needs_routing(module: ModuleType, det: DataEntryType | None) -> bool:
    return det is None and len(MODULE_DATA_ENTRY_TYPES[module]) > 1


def route(module: ModuleType, det: DataEntryType | None, row: Mapping[str, Any]) -> DataEntryType:
    """The row's data entry type; RowError with the reason when it cannot be told."""
    dets = MODULE_DATA_ENTRY_TYPES[ModuleType(module)]
    named: DataEntryType | None = None
    for col in ROUTING_COLUMNS:
        raw = cell(row, col)
        if raw is None:
            continue
        named = _by_name(raw, dets)
        if named is None:
            choices = ", ".join(d.name for d in dets)
            raise RowError(f"{col}: {shown(raw)} is not a data entry type of module "
                           f"{ModuleType(module).name} ({choices})")
        break
    if det is not None:
        det = DataEntryType(det)
        if det not in dets:
            raise RowError(f"data entry type {det.name} does not belong to module "
                           f"{ModuleType(module).name}")
        if named is not None and named != det:
            raise RowError(f"row is for {named.name} but the upload is for {det.name}")
        return det
    if named is not None:
        return named
    if len(dets) == 1:
        return dets[0]
    raise RowError("cannot tell the data entry type: fill the data_entry_type column")
