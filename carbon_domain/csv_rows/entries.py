"""Data entry CSV rows → (data entry type, unit institutional id, ``entry.data``).

Free text is stored literally: a cell such as ``=CMD()`` or ``'; DROP TABLE`` is just a
string in a JSON document, never evaluated. Enumerations are stored in canonical form.
Numbers are held to the limit of a data entry quantity (or their column's: a surface).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.csv_rows.factors import header_problem
from carbon_domain.csv_rows.fields import (
    RowError,
    cell,
    lower_keys,
    missing_columns,
    parse_cols,
    shown,
)
from carbon_domain.csv_rows.routing import route
from carbon_domain.csv_rows.schemas import COMMON_ENTRY_COLS, ENTRY_SCHEMAS, EntrySchema
from carbon_domain.numbers import ENTRY_QUANTITY

if TYPE_CHECKING:
    from carbon_domain.reference import ReferenceData

OVERRIDE_KEY = "__kg_co2eq_override__"
UNIT_COLUMN = "unit_institutional_id"


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    det: int
    unit_institutional_id: str | None
    data: dict[str, Any]


def entry_columns(det: int) -> list[str]:
    return [c.name for c in (*ENTRY_SCHEMAS[int(det)].cols, *COMMON_ENTRY_COLS)]


def entry_header_problem(module: ModuleType, det: DataEntryType | None, header: list[str],
                         *, require_unit: bool = True) -> str | None:
    """Why this header cannot be used for a data entry upload, or None.

    Module-per-year uploads (the API's) name each row's unit, so ``unit_institutional_id``
    is required unless ``require_unit=False`` (a unit-specific upload).
    """
    extra = [UNIT_COLUMN] if require_unit else []
    return header_problem(module, det, header, ENTRY_SCHEMAS,
                           lambda s, cols: missing_columns(s.cols, cols), extra)


def _check_places(det: int, data: dict[str, Any], refs: ReferenceData) -> None:
    if det == DataEntryType.plane:
        for key in ("origin_iata", "destination_iata"):
            if refs.airport(data[key]) is None:
                raise RowError(f"{key}: unknown airport {shown(data[key])}")
    elif det == DataEntryType.train:
        for key in ("origin", "destination"):
            name, country = data[f"{key}_name"], data.get(f"{key}_country_code")
            if refs.station(name, country) is None:
                raise RowError(f"{key}_name: unknown station {shown(name)}"
                               + (f" in {country}" if country else ""))


def parse_entry_row(module: ModuleType, det: DataEntryType | None, row: Mapping[str, Any],
                    *, refs: ReferenceData | None = None) -> ParsedEntry:
    """One data entry row; RowError names the single reason it cannot be used.

    With ``refs``, travel rows are also checked against the airports and stations tables so
    an unknown IATA code or station is reported at upload rather than at recalculation.
    """
    r = lower_keys(row)
    dtype = route(module, det, r)
    schema: EntrySchema = ENTRY_SCHEMAS[int(dtype)]
    data = parse_cols(schema.cols, r, {}, limit=ENTRY_QUANTITY)
    if schema.check is not None:
        schema.check(data)
    common = parse_cols(COMMON_ENTRY_COLS, r, {}, limit=ENTRY_QUANTITY)
    if "note" in common:
        data["note"] = common["note"]
    if "kg_co2eq" in common:
        data[OVERRIDE_KEY] = common["kg_co2eq"]
    if refs is not None:
        _check_places(int(dtype), data, refs)
    return ParsedEntry(int(dtype), cell(r, UNIT_COLUMN), data)
