"""Columns an upload kind uses, and the ones a file carries that it does not.

Extra columns stay allowed (docs/design.md §3), but a misspelt optional column (``subclass``
for ``sub_class``) would otherwise be read as blank without a word. A column that looks like
a misspelling of an expected one (``near_misses``) refuses the upload unless the operator
allows unknown columns; every other unused column is reported with the nearest expected
name, listed first in the job's message, and the upload's result becomes WARNING.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.csv_rows.entries import UNIT_COLUMN
from carbon_domain.csv_rows.fields import header_set
from carbon_domain.csv_rows.reference_rows import REFERENCE_MODELS
from carbon_domain.csv_rows.routing import ROUTING_COLUMNS
from carbon_domain.csv_rows.schemas import COMMON_ENTRY_COLS, ENTRY_SCHEMAS, FACTOR_SCHEMAS

#: Columns of the real factor templates that carry no factor data (a human description and
#: the free-text note every template has): known, so they are not reported.
FACTOR_DESCRIPTIVE_COLUMNS = ("purchase_institutional_description", "note")
#: A hostile header can have 100k columns: report (and run difflib on) the first ones only.
MAX_REPORTED = 50
#: How close (difflib ratio) an unknown column must be to an expected one to be taken for a
#: misspelling of it: ``standby_usage_hours_per_wk`` (0.96), ``subclass`` (0.94) are;
#: ``unit_name`` beside ``unit`` (0.62) is a column of its own.
NEAR_MISS_RATIO = 0.8
#: The job message lists the ignored columns first; past this length the rest are counted.
_MESSAGE_CHARS = 1200


@dataclass(frozen=True, slots=True)
class UnknownColumn:
    column: str
    suggestion: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"column": self.column, "suggestion": self.suggestion}

    def sentence(self) -> str:
        hint = f" — did you mean {self.suggestion!r}?" if self.suggestion else ""
        return f"column {self.column!r} is not used{hint}"


def _dets(module: ModuleType, det: DataEntryType | None) -> list[DataEntryType]:
    return [DataEntryType(det)] if det is not None else list(MODULE_DATA_ENTRY_TYPES[module])


def factor_known_columns(module: ModuleType, det: DataEntryType | None) -> set[str]:
    known = {*ROUTING_COLUMNS, *FACTOR_DESCRIPTIVE_COLUMNS}
    for d in _dets(ModuleType(module), det):
        s = FACTOR_SCHEMAS[int(d)]
        known.update(c.name for c in (*s.classification, *s.values))
    return known


def entry_known_columns(module: ModuleType, det: DataEntryType | None) -> set[str]:
    known = {*ROUTING_COLUMNS, UNIT_COLUMN, *(c.name for c in COMMON_ENTRY_COLS)}
    for d in _dets(ModuleType(module), det):
        known.update(c.name for c in ENTRY_SCHEMAS[int(d)].cols)
    return known


def reference_known_columns(kind: str) -> set[str]:
    model = REFERENCE_MODELS.get(kind)
    return set(model.model_fields) if model is not None else set()


def unknown_columns(header: list[str], known: set[str]) -> tuple[list[UnknownColumn], int]:
    """(first MAX_REPORTED unknown columns with their nearest known name, how many in all).
    Blank header cells (a trailing comma) are not columns anyone typed."""
    extra = [c for c in header_set(header) if c and c not in known]
    # header_set is a set: keep the file's order for a stable report.
    order = {c: i for i, c in enumerate(str(h).lstrip("\ufeff").strip().lower() for h in header)}
    extra.sort(key=lambda c: order.get(c, 0))
    choices = sorted(known)
    out = [UnknownColumn(c[:100], next(iter(difflib.get_close_matches(c, choices, n=1)), None))
           for c in extra[:MAX_REPORTED]]
    return out, len(extra)


def near_misses(header: list[str], known: set[str]) -> list[UnknownColumn]:
    """Unknown columns of ``header`` that look like a misspelling of a known one, each with
    the known column it resembles."""
    extra, _ = unknown_columns(header, known)
    choices = sorted(known)
    out = []
    for c in extra:
        close = difflib.get_close_matches(c.column, choices, n=1, cutoff=NEAR_MISS_RATIO)
        if close:
            out.append(UnknownColumn(c.column, close[0]))
    return out


def describe_near_misses(columns: list[UnknownColumn]) -> str:
    """Why an upload is refused: each column and the expected one it resembles."""
    names = ", ".join(f"{c.column!r} (did you mean {c.suggestion!r}?)" for c in columns)
    return (f"column(s) {names} are not columns of this upload and look like misspellings;"
            " the file was refused rather than read with those values left blank. Correct"
            " the header, or allow unknown columns to load it without them")


def describe_unknown(columns: list[UnknownColumn], total: int) -> str:
    """The leading clause of the job message naming every ignored column, e.g. ``columns
    ignored: 'subclass' (did you mean 'sub_class'?), 'owner'``; the full list is in the
    job's meta."""
    if not columns:
        return ""
    shown: list[str] = []
    size = 0
    for c in columns:
        part = repr(c.column) + (f" (did you mean {c.suggestion!r}?)" if c.suggestion else "")
        if shown and size + len(part) > _MESSAGE_CHARS:
            break
        shown.append(part)
        size += len(part) + 2
    text = f"{total} column{'s' if total != 1 else ''} ignored: {', '.join(shown)}"
    if total > len(shown):
        text += f" (and {total - len(shown)} more unused columns)"
    return text
