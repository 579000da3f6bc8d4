"""CSV row schemas and parsers for every upload kind (docs/design.md §3 upload formats).

Header checks return a message (the upload is refused with 400) or None; row parsers return
a typed result or raise ``RowError`` with one reason (the row is skipped and reported).
"""

from carbon_domain.csv_rows.columns import (
    UnknownColumn,
    describe_near_misses,
    describe_unknown,
    entry_known_columns,
    factor_known_columns,
    near_misses,
    reference_known_columns,
    unknown_columns,
)
from carbon_domain.csv_rows.entries import (
    OVERRIDE_KEY,
    UNIT_COLUMN,
    ParsedEntry,
    entry_columns,
    entry_header_problem,
    parse_entry_row,
)
from carbon_domain.csv_rows.factors import (
    ParsedFactor,
    canonical_classification,
    classification_key,
    factor_columns,
    factor_header_problem,
    factor_identity,
    parse_factor_row,
)
from carbon_domain.csv_rows.fields import RowError
from carbon_domain.csv_rows.reference_rows import (
    REFERENCE_MODELS,
    RateRow,
    RoomRow,
    StationRow,
    UnitRow,
    parse_rate_row,
    parse_room_row,
    parse_station_row,
    parse_unit_row,
    reference_header_problem,
)
from carbon_domain.csv_rows.routing import ROUTING_COLUMNS
from carbon_domain.csv_rows.schemas import ENTRY_SCHEMAS, FACILITY_SOURCES, FACTOR_SCHEMAS

__all__ = [
    "ENTRY_SCHEMAS", "FACILITY_SOURCES", "FACTOR_SCHEMAS", "OVERRIDE_KEY", "REFERENCE_MODELS",
    "ROUTING_COLUMNS", "UNIT_COLUMN", "ParsedEntry", "ParsedFactor", "RateRow", "RoomRow",
    "RowError", "StationRow", "UnitRow", "UnknownColumn", "canonical_classification",
    "classification_key", "describe_near_misses", "describe_unknown", "entry_columns",
    "entry_header_problem",
    "entry_known_columns", "factor_columns", "factor_header_problem", "factor_identity",
    "factor_known_columns", "near_misses", "parse_entry_row", "parse_factor_row",
    "parse_rate_row",
    "parse_room_row",
    "parse_station_row", "parse_unit_row", "reference_header_problem",
    "reference_known_columns", "unknown_columns",
]
