"""Column specs and value parsing shared by every CSV row schema.

A row schema is a tuple of ``Col``: declarative, so header checks, row parsing and the
"every type has a schema" test read the same table. Each failure raises ``RowError`` with one
human reason naming the column and the offending value.

Every number also has the magnitude limit of its kind (``carbon_domain/numbers.py``): the
parser of an upload kind passes its own (a data entry quantity, a factor value), and a column
of another kind names its own (``Col.limit``: a surface, a facility's total use).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from carbon_domain.numbers import Limit, range_problem

# Plain decimal notation only: float() would also accept "nan", "inf", "1_000" and "0x1p3".
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_MAX_SHOWN = 40


class RowError(ValueError):
    """A CSV row that cannot be used; the message is the one reason, for the job's meta."""


def shown(raw: object) -> str:
    s = str(raw)
    return repr(s if len(s) <= _MAX_SHOWN else s[:_MAX_SHOWN] + "…")


@dataclass(frozen=True, slots=True)
class Col:
    """One column. kind: text | num | int | choice. ``canon`` maps a raw choice to its
    canonical value (None = invalid); ``lenient`` keeps an unrecognised choice literally."""

    name: str
    kind: str = "text"
    required: bool = False
    lo: float | None = 0.0
    hi: float | None = None
    canon: Callable[[Any], str | None] | None = None
    choices: tuple[str, ...] = ()
    lenient: bool = False
    header: bool | None = None  # must appear in the header; default = required
    limit: Limit | None = None  # its magnitude limit, when not the upload kind's

    @property
    def in_header(self) -> bool:
        return self.required if self.header is None else self.header


def text(name: str, required: bool = False, header: bool | None = None) -> Col:
    return Col(name, "text", required, header=header)


def num(name: str, required: bool = False, lo: float | None = 0.0, hi: float | None = None,
        header: bool | None = None, limit: Limit | None = None) -> Col:
    return Col(name, "num", required, lo, hi, header=header, limit=limit)


def integer(name: str, required: bool = False, lo: float | None = 0.0,
            hi: float | None = None) -> Col:
    return Col(name, "int", required, lo, hi)


def choice(name: str, canon: Callable[[Any], str | None], choices: tuple[str, ...],
           required: bool = False, lenient: bool = False) -> Col:
    return Col(name, "choice", required, canon=canon, choices=choices, lenient=lenient)


def cell(row: Mapping[str, Any], name: str) -> str | None:
    """The stripped cell, or None when absent or blank (DictReader gives None for short rows)."""
    v = row.get(name)
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def parse_number(name: str, raw: str, lo: float | None = 0.0, hi: float | None = None,
                 limit: Limit | None = None) -> float:
    """The cell's number: plain decimal notation, finite, within [lo, hi] (the column's own
    rule), then within ``limit`` (its kind's magnitude)."""
    s = raw.replace(" ", "").replace("\u00a0", "").replace("'", "")  # 1 000 / 1'000
    if not _NUMBER.match(s):
        raise RowError(f"{name}: {shown(raw)} is not a number")
    value = float(s)
    if not math.isfinite(value):
        raise RowError(f"{name}: {shown(raw)} is too large")
    problem = range_problem(name, value, lo, hi) or (
        limit.problem(name, value, shown(raw)) if limit is not None else None)
    if problem:
        raise RowError(problem)
    return value


def parse_col(col: Col, raw: str, limit: Limit | None = None) -> Any:
    """Parse one non-blank cell according to its column spec; a number is also held to the
    column's own limit, else to ``limit`` (its upload kind's)."""
    if col.kind == "num":
        return parse_number(col.name, raw, col.lo, col.hi, col.limit or limit)
    if col.kind == "int":
        value = parse_number(col.name, raw, col.lo, col.hi, col.limit or limit)
        if not value.is_integer():
            raise RowError(f"{col.name} must be a whole number (got {shown(raw)})")
        return int(value)
    if col.kind == "choice":
        assert col.canon is not None
        canonical = col.canon(raw)
        if canonical is not None:
            return canonical
        if col.lenient:
            return raw
        raise RowError(f"{col.name}: {shown(raw)} is not one of {', '.join(col.choices)}")
    return raw


def parse_cols(cols: tuple[Col, ...], row: Mapping[str, Any], out: dict[str, Any],
               blank: Any = ..., *, limit: Limit | None = None) -> dict[str, Any]:
    """Fill ``out`` from ``row``: blanks are omitted (or set to ``blank`` when given).
    ``limit``: the magnitude limit of the upload kind's numbers."""
    for col in cols:
        raw = cell(row, col.name)
        if raw is None:
            if col.required:
                raise RowError(f"{col.name} is required")
            if blank is not ...:
                out[col.name] = blank
            continue
        out[col.name] = parse_col(col, raw, limit)
    return out


def lower_keys(row: Mapping[str, Any]) -> dict[str, Any]:
    """Header names are matched case-insensitively and without a BOM or padding."""
    return {str(k).lstrip("\ufeff").strip().lower(): v for k, v in row.items() if k is not None}


def header_set(header: list[str]) -> set[str]:
    return {str(h).lstrip("\ufeff").strip().lower() for h in header if h is not None}


def missing_columns(cols: tuple[Col, ...], header: set[str]) -> list[str]:
    return [c.name for c in cols if c.in_header and c.name not in header]


def missing_with_hints(missing: list[str], strangers: list[str]) -> str:
    """The missing columns, each with the file's unknown column it may be a misspelling of
    (``strangers``: the header's columns the upload does not know)."""
    out = []
    for name in missing:
        close = difflib.get_close_matches(name, strangers, n=1)
        out.append(f"{name} (the file has {close[0]!r}: a misspelling?)" if close else name)
    return ", ".join(out)
