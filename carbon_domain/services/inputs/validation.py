"""Whole-file checks run before anything is written (CsvProblem: the file is unusable)."""

from __future__ import annotations

from carbon_domain import csv_rows
from carbon_domain.catalog import DataEntryType, ModuleType, check_module_type
from carbon_domain.errors import InvalidInput
from carbon_domain.services.inputs.csv_input import CsvProblem, check_has_rows
from carbon_domain.upload_kinds import REFERENCE_KINDS, UploadKind

__all__ = ["UPLOAD_KINDS", "check_module_type", "known_columns", "validate_upload"]
UPLOAD_KINDS = tuple(UploadKind)


def validate_upload(kind: str, content: bytes, module: ModuleType | None = None,
                    det: DataEntryType | None = None, *,
                    allow_unknown_columns: bool = False) -> list[str]:
    """The header of a usable upload; CsvProblem names what makes it unusable.

    A column that looks like a misspelling of an expected one refuses the file (its values
    would be read as blank everywhere) unless ``allow_unknown_columns``; other unknown
    columns are reported by the ingest (result WARNING)."""
    header = check_has_rows(content)
    if kind == UploadKind.factors:
        assert module is not None
        problem = csv_rows.factor_header_problem(module, det, header)
    elif kind == UploadKind.data_entries:
        assert module is not None
        problem = csv_rows.entry_header_problem(module, det, header)
    elif kind in REFERENCE_KINDS:
        problem = csv_rows.reference_header_problem(kind, header)
    else:
        raise InvalidInput(f"unknown upload kind {kind!r}", field="kind", value=kind)
    if problem:
        raise CsvProblem(problem)
    if not allow_unknown_columns:
        misses = csv_rows.near_misses(header, known_columns(kind, module, det))
        if misses:
            raise CsvProblem(csv_rows.describe_near_misses(misses))
    return header


def known_columns(kind: str, module: ModuleType | None, det: DataEntryType | None
                  ) -> set[str]:
    """Every column an upload of this kind reads (or knowingly ignores)."""
    if kind == UploadKind.factors:
        assert module is not None
        return csv_rows.factor_known_columns(module, det)
    if kind == UploadKind.data_entries:
        assert module is not None
        return csv_rows.entry_known_columns(module, det)
    return csv_rows.reference_known_columns(kind)
