"""The outcome of one ingest job: result, message and meta built from its row errors and
its unused columns.

Row problems skip the row and are reported (row number and reason, first N kept); columns
the upload kind does not use are named with the nearest expected one. The result is SUCCESS
(nothing skipped, every column used), WARNING (some rows skipped or unused columns) or ERROR
(nothing usable).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar

from carbon_domain import csv_rows
from carbon_domain.db.enums import JobResult
from carbon_domain.json_types import JsonLike
from carbon_domain.settings import get_settings

T = TypeVar("T")


class RejectedRow(TypedDict):
    """A rejected row of an upload, in its job's ``meta.row_errors``."""

    row: int
    reason: str


@dataclass
class IngestOutcome:
    result: JobResult
    message: str
    meta: dict[str, Any]
    recalc_dets: list[int] = field(default_factory=list)


class RowReport:
    """Collects row errors (first N kept), counts, and the file's unused columns."""

    def __init__(self, header: list[str] | None = None, known: set[str] | None = None) -> None:
        self.total = 0
        self.skipped = 0
        self.errors: list[RejectedRow] = []
        self.cap = get_settings().max_row_errors
        self.unknown: list[csv_rows.UnknownColumn] = []
        self.unknown_total = 0
        if header is not None and known is not None:
            self.unknown, self.unknown_total = csv_rows.unknown_columns(header, known)

    def parsed(self, rows: Iterable[tuple[int, dict[str, str]]],
               parse: Callable[[dict[str, str]], T],
               on_reject: Callable[[dict[str, str]], None] | None = None
               ) -> Iterator[tuple[int, T]]:
        """(line, parsed row) for every usable row; the others become row errors (and are
        passed to ``on_reject`` when given)."""
        for line, row in rows:
            self.total += 1
            if "__csv_error__" in row:
                self.error(line, f"malformed CSV row: {row['__csv_error__']}")
                continue
            try:
                yield line, parse(row)
            except csv_rows.RowError as exc:
                self.error(line, str(exc))
                if on_reject is not None:
                    on_reject(row)

    def keep_last(self, rows: Iterable[tuple[int, Hashable, T]], what: str,
                  describe: Callable[[T], str]) -> list[tuple[int, T]]:
        """(line, row) of the last row of each key, in file order. A file that gives a key
        twice keeps its last row (as an upsert would) and says so: every earlier row of the
        key is skipped and reported, naming the row that repeats it, whose values were kept.
        The row errors stay in row order."""
        items = list(rows)
        last = {key: line for line, key, _ in items}
        out: list[tuple[int, T]] = []
        for line, key, item in items:
            kept = last[key]
            if kept == line:
                out.append((line, item))
            else:
                self.error(line, f"duplicate of row {kept}, whose values were kept (the last"
                                 f" row of a {what} wins): {describe(item)}")
        self.errors.sort(key=lambda e: e["row"])
        return out

    def error(self, line: int, reason: str) -> None:
        self.skipped += 1
        if len(self.errors) < self.cap:
            self.errors.append({"row": line, "reason": reason[:200]})

    def outcome(self, processed: int, what: str, extra: str = "",
                meta: JsonLike | None = None, recalc: list[int] | None = None,
                summary: str | None = None) -> IngestOutcome:
        """``summary`` replaces the default "{processed} {what}" part of the message."""
        done = summary or f"{processed} {what}"
        if processed == 0:
            result = JobResult.ERROR
            msg = (f"ERROR: no usable rows ({self.skipped} of {self.total}"
                   f" row{'s' if self.total != 1 else ''} rejected)")
        elif self.skipped or self.unknown:
            result = JobResult.WARNING
            # Ignored columns lead: their values are in no row the upload loaded.
            ignored = csv_rows.describe_unknown(self.unknown, self.unknown_total)
            msg = f"WARNING: {ignored}; {done}" if ignored else f"WARNING: {done}"
            if self.skipped:
                msg += f", {self.skipped} row{'s' if self.skipped != 1 else ''} skipped"
        else:
            result = JobResult.SUCCESS
            msg = f"Success: {done}"
        if extra:
            msg += f"; {extra}"
        if processed == 0 and self.unknown:
            msg += "; " + csv_rows.describe_unknown(self.unknown, self.unknown_total)
        if self.errors:
            first = self.errors[0]
            msg += f" — first error: row {first['row']}: {first['reason']}"
        m = {"rows": self.total, "processed": processed, "skipped": self.skipped,
             "row_errors": self.errors,
             "unknown_columns": [c.as_dict() for c in self.unknown], **(meta or {})}
        if self.unknown_total > len(self.unknown):
            m["unknown_column_count"] = self.unknown_total
        return IngestOutcome(result, msg, m, recalc or [] if result != JobResult.ERROR else [])
