"""Reading uploaded CSV bytes: whole-file problems become one clear `CsvProblem` (unusable:
nothing written); row problems are left to the row parsers."""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from collections.abc import Iterator

from carbon_domain.errors import Unusable

csv.field_size_limit(min(sys.maxsize, 10 * 1024 * 1024))


class CsvProblem(Unusable):
    """The file cannot be used at all."""


def decode(content: bytes) -> str:
    if not content or not content.strip():
        raise CsvProblem("the file is empty")
    # Anywhere, not just near the start: PostgreSQL text and JSONB cannot hold NUL, so one
    # late NUL would otherwise fail the whole ingest with a cryptic database error.
    if b"\x00" in content:
        raise CsvProblem("the file is not UTF-8 text (it contains NUL bytes; is it a"
                         " spreadsheet or UTF-16 file? export it as CSV UTF-8)")
    try:
        # utf-8-sig drops the byte-order mark Excel writes.
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvProblem(
            f"the file is not UTF-8 text (invalid byte 0x{content[exc.start]:02x} at"
            f" position {exc.start}); export it as CSV UTF-8") from None


def read_csv(content: bytes) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Header (trimmed, lower-cased) and an iterator of (line number, row dict)."""
    text = decode(content)
    # strict: a quote that is never closed is an error at the end of the file instead of
    # silently swallowing every following row into one cell; `"a"b` is an error too.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        raw_header = next(reader)
    except StopIteration:
        raise CsvProblem("the file is empty") from None
    except csv.Error as exc:
        raise CsvProblem(f"the header row is not valid CSV: {exc}") from None
    header = [h.strip().lower() for h in raw_header]
    if not any(header):
        raise CsvProblem("the first row must be a header naming the columns")
    if len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if sep in raw_header[0]:
                raise CsvProblem(f"columns must be separated by commas; the header looks"
                                 f" separated by {name}")
    # Counter, not header.count(): a hostile header of 100k columns must not cost 10^10 steps.
    dupes = sorted(h for h, n in Counter(header).items() if h and n > 1)
    if dupes:
        raise CsvProblem(f"duplicate column(s) in the header: {', '.join(dupes)}")

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        line = 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line += 1
                reason = str(exc)
                if reason == "unexpected end of data":
                    reason = ("a quoted cell is never closed (unbalanced \"); every row after"
                              " it was read into that cell")
                yield line, {"__csv_error__": reason}
                continue
            line += 1
            if not values or not any(v.strip() for v in values):
                continue
            if len(values) > len(header) and any(v.strip() for v in values[len(header):]):
                # Dropping them would shift nothing visibly and lose data silently: an
                # unquoted decimal comma (1,5) pushes every later value one column right.
                extra = len(values) - len(header)
                yield line, {"__csv_error__": (
                    f"the row has {len(values)} cells but the header names {len(header)}"
                    f" columns ({extra} extra, not blank); quote cells that contain a comma,"
                    " e.g. \"1,5\", or use a decimal point")}
                continue
            yield line, dict(zip(header, values, strict=False))
    return header, rows()


def check_no_rows(content: bytes) -> list[str]:
    """Header of a file that must have none but it (CsvProblem otherwise)."""
    header, rows = read_csv(content)
    if next(rows, None) is not None:
        raise CsvProblem("this file must be a header row alone")
    return header


def check_has_rows(content: bytes) -> list[str]:
    """Header of a usable file; CsvProblem when it has no data rows."""
    header, rows = read_csv(content)
    if next(rows, None) is None:
        raise CsvProblem("the file has a header but no data rows")
    return header
