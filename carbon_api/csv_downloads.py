"""Streamed CSV downloads shared by ``/v1/exports`` and the console: the same 404/409
checks before the first byte, one read snapshot for the whole file, the
``X-Carbon-Last-Recalculation-Job`` header naming the last recalculation the file reflects,
and whether its numbers are up to date (``X-Carbon-Up-To-Date``; when not, which types and
modules are stale and why in one line: ``exports.freshness``, the status pages' state)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from carbon_api.errors import http_error
from carbon_domain.db.session import session_scope
from carbon_domain.errors import CarbonError
from carbon_domain.services.exports import exports
from carbon_domain.services.exports.freshness import ExportFreshness, export_freshness

HEADER = "X-Carbon-Last-Recalculation-Job"
UP_TO_DATE = "X-Carbon-Up-To-Date"  # true | false
STALE_TYPES = "X-Carbon-Stale-Types"  # "it, plane": types needing recalculation
STALE_MODULES = "X-Carbon-Stale-Modules"  # "purchase": totals not updated
FAILED_TYPES = "X-Carbon-Failed-Types"  # "it": last run failed, numbers of the run before
WARNING = "X-Carbon-Export-Warning"  # the one line, in names and states


@dataclass(frozen=True, slots=True)
class Checked:
    """What the checks before the first byte found: the last recalculation the file
    reflects and how up to date its numbers are."""

    job: int | None
    freshness: ExportFreshness


def freshness_headers(f: ExportFreshness) -> dict[str, str]:
    """``X-Carbon-Up-To-Date: true`` and nothing more, or ``false`` with the stale types,
    modules and the warning; the types whose last recalculation failed (numbers of the run
    before, still up to date) and the warning either way (only the headers that have
    something to say)."""
    out = {UP_TO_DATE: "true" if f.up_to_date else "false"}
    if f.stale_types:
        out[STALE_TYPES] = ", ".join(t.data_entry_type_name for t in f.stale_types)
    if f.stale_modules:
        out[STALE_MODULES] = ", ".join(m.module_name for m in f.stale_modules)
    if f.failed_types:
        out[FAILED_TYPES] = ", ".join(t.data_entry_type_name for t in f.failed_types)
    text = f.header_text()
    if text:
        out[WARNING] = text
    return out


def content_disposition(name: str, fallback: str = "download.csv") -> str:
    """``attachment`` with an ASCII ``filename=`` every client reads and the exact name as
    ``filename*=UTF-8''…`` (RFC 6266): HTTP headers are Latin-1, so a stored upload named
    ``数据.csv`` put raw in the header made the download fail."""
    def ascii_of(text: str, keep: str = "_-") -> str:
        folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return "".join(c for c in folded if c.isalnum() or c in keep)

    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    fb_stem, _, fb_ext = fallback.rpartition(".")
    ascii_stem = ascii_of(stem, "._-").strip("._-") or fb_stem
    ascii_name = f"{ascii_stem[:140]}.{ascii_of(ext) or fb_ext}"
    exact = quote(name[:150], safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{exact}"


def stream_csv(name: str, checked: Checked, produce: Callable[[Any], Iterator[str]]
               ) -> StreamingResponse:
    def body() -> Iterator[bytes]:
        with session_scope() as s:
            exports.snapshot(s)
            for chunk in produce(s):
                yield chunk.encode("utf-8")
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": content_disposition(name),
        HEADER: str(checked.job) if checked.job is not None else "none",
        **freshness_headers(checked.freshness)})


def precheck_export(year: int, det: int | None, unit: str | None, allow_stale: bool
                    ) -> Checked:
    with session_scope() as s:
        try:
            exports.check_year(s, year, unit)
            if not allow_stale:
                exports.ensure_not_running(s, year, det)
        except CarbonError as exc:  # ExportNotFound, ExportBlocked: for the console's page too
            raise http_error(exc) from None
        return Checked(exports.last_recalculation_job_id(s, year, det),
                       export_freshness(s, year, det))
