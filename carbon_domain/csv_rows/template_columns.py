"""The columns an upload expects, read from the very schemas the ingest parses with, so the
console's column list and its header-only template CSV cannot drift from what an upload
accepts.

Required = must be in the header (``Col.in_header``; for reference kinds, the row model's
required fields); optional = every other column the upload reads. A whole-module file of a
module with several types adds the ``data_entry_type`` routing column and the union of its
types' columns (a column any type requires is listed as required).
"""

from __future__ import annotations

from dataclasses import dataclass

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.csv_rows.entries import UNIT_COLUMN
from carbon_domain.csv_rows.fields import Col
from carbon_domain.csv_rows.reference_rows import REFERENCE_MODELS
from carbon_domain.csv_rows.routing import ROUTING_COLUMNS, needs_routing
from carbon_domain.csv_rows.schemas import COMMON_ENTRY_COLS, ENTRY_SCHEMAS, FACTOR_SCHEMAS
from carbon_domain.errors import InvalidInput
from carbon_domain.upload_kinds import MODULE_KINDS, UploadKind

ROW_KINDS = MODULE_KINDS


@dataclass(frozen=True, slots=True)
class UploadColumns:
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def header(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


def _type_cols(kind: str, det: DataEntryType) -> tuple[Col, ...]:
    if kind == UploadKind.factors:
        s = FACTOR_SCHEMAS[int(det)]
        return (*s.classification, *s.values)
    return (*ENTRY_SCHEMAS[int(det)].cols, *COMMON_ENTRY_COLS)


def _merge(groups: list[tuple[Col, ...]], leading: list[str]) -> UploadColumns:
    required = list(leading)
    optional: list[str] = []
    for cols in groups:
        for c in cols:
            if c.in_header and c.name not in required:
                required.append(c.name)
    for cols in groups:
        for c in cols:
            if c.name not in required and c.name not in optional:
                optional.append(c.name)
    return UploadColumns(tuple(required), tuple(optional))


def upload_columns(kind: str, module: int | None = None, det: int | None = None
                   ) -> UploadColumns:
    """The columns of one upload: ``kind`` factors / data-entries (with ``module`` and an
    optional ``det``) or a reference kind (units, stations, building-rooms, exchange-rates).
    ValueError for an unknown kind, module or type."""
    if kind in REFERENCE_MODELS:
        fields = REFERENCE_MODELS[kind].model_fields
        return UploadColumns(tuple(n for n, f in fields.items() if f.is_required()),
                             tuple(n for n, f in fields.items() if not f.is_required()))
    if kind not in ROW_KINDS or module is None:
        raise InvalidInput(f"no template for upload kind {kind!r}", field="kind", value=kind)
    m = ModuleType(module)
    d = DataEntryType(det) if det is not None else None
    if d is not None and d not in MODULE_DATA_ENTRY_TYPES[m]:
        raise InvalidInput(f"data entry type {d.name} does not belong to module {m.name}",
                           field="data_entry_type_id", value=det)
    dets = [d] if d is not None else list(MODULE_DATA_ENTRY_TYPES[m])
    leading = [UNIT_COLUMN] if kind == UploadKind.data_entries else []
    if needs_routing(m, d):
        leading.insert(0, ROUTING_COLUMNS[0])
    return _merge([_type_cols(kind, x) for x in dets], leading)


def template_csv(columns: UploadColumns) -> str:
    """A header-only CSV (column names are plain identifiers: no quoting needed)."""
    return ",".join(columns.header) + "\r\n"
