"""Whole-file checks run before anything is written (CsvProblem: the file is unusable)."""

from __future__ import annotations

from carbon_domain import csv_rows
from carbon_domain.catalog import MODULE_OF, DataEntryType, ModuleType, check_module_type
from carbon_domain.errors import InvalidInput
from carbon_domain.services.inputs.csv_input import CsvProblem, check_has_rows, check_no_rows
from carbon_domain.upload_kinds import REFERENCE_KINDS, UploadKind

__all__ = ["UPLOAD_KINDS", "check_module_type", "known_columns", "validate_upload"]
UPLOAD_KINDS = tuple(UploadKind)


def validate_upload(kind: str, content: bytes, module: ModuleType | None = None,
                    det: DataEntryType | None = None, *,
                    allow_unknown_columns: bool = False, header_only: bool = False
                    ) -> list[str]:
    """The header of a usable upload; CsvProblem names what makes it unusable.

    ``header_only``: the file must have no data row (the revert of a scope's first entry
    upload, which empties its types); every other upload needs at least one.

    A column that looks like a misspelling of an expected one refuses the file (its values
    would be read as blank everywhere) unless ``allow_unknown_columns``; other unknown
    columns are reported by the ingest (result WARNING)."""
    if header_only and kind != UploadKind.data_entries:
        raise InvalidInput(f"a {kind} upload cannot empty data entry types", field="clears")
    header = check_no_rows(content) if header_only else check_has_rows(content)
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
        raise CsvProblem(problem + _meant_for(kind, module, det, header))
    if not allow_unknown_columns:
        misses = csv_rows.near_misses(header, known_columns(kind, module, det))
        if misses:
            raise CsvProblem(csv_rows.describe_near_misses(misses)
                             + _meant_for(kind, module, det, header))
    return header


def _meant_for(kind: str, module: ModuleType | None, det: DataEntryType | None,
               header: list[str]) -> str:
    """"; these are the columns of equipment it factors: was the file meant for that
    module?" when another module's upload of the same kind takes this header as it is. An
    operator who picked the wrong module was told that ``ef_kg_co2eq_per_kwh`` (an IT factor
    column) looked like a misspelling of headcount's ``ef_kg_co2eq_per_unit``."""
    if module is None or kind not in (UploadKind.factors, UploadKind.data_entries):
        return ""
    problem = (csv_rows.factor_header_problem if kind == UploadKind.factors
               else csv_rows.entry_header_problem)
    fits = []
    for other in ModuleType:
        if other is module:  # its own types: the problem says what to add
            continue
        dets = [d for d in (None, *(x for x in DataEntryType if MODULE_OF[x] is other))
                if problem(other, d, header) is None
                and not csv_rows.near_misses(header, known_columns(kind, other, d))]
        if dets:  # one type: name it; the module, or several of its types: the module
            only = dets[0] if len(dets) == 1 else None
            fits.append(other.name + (f" {only.name}" if only is not None else ""))
    if not fits:
        return ""
    what = "factors" if kind == UploadKind.factors else "data entries"
    return (f"; these are the columns of {' or '.join(fits[:3])} {what}: was the file meant"
            " for that module?")


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
