"""Whole-file checks run before anything is written (HTTP 400 on failure)."""

from __future__ import annotations

from carbon_domain import csv_rows
from carbon_domain.catalog import MODULE_OF, DataEntryType, ModuleType
from carbon_domain.services.csv_input import CsvProblem, check_has_rows

UPLOAD_KINDS = ("factors", "data-entries", "units", "stations", "building-rooms",
                "exchange-rates")


def check_module_type(module: ModuleType, det: DataEntryType | None) -> None:
    if det is not None and MODULE_OF[det] != module:
        raise ValueError(f"data entry type {det.value} ({det.name}) does not belong to module"
                         f" {module.value} ({module.name}); it belongs to module"
                         f" {MODULE_OF[det].value}")


def validate_upload(kind: str, content: bytes, module: ModuleType | None = None,
                    det: DataEntryType | None = None) -> list[str]:
    """The header of a usable upload; CsvProblem names what makes it unusable."""
    header = check_has_rows(content)
    if kind == "factors":
        assert module is not None
        problem = csv_rows.factor_header_problem(module, det, header)
    elif kind == "data-entries":
        assert module is not None
        problem = csv_rows.entry_header_problem(module, det, header)
    elif kind in ("units", "stations", "building-rooms", "exchange-rates"):
        problem = csv_rows.reference_header_problem(kind, header)
    else:
        raise ValueError(f"unknown upload kind {kind!r}")
    if problem:
        raise CsvProblem(problem)
    return header
