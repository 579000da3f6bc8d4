"""Streamed CSV downloads shared by ``/v1/exports`` and the console: the same 404/409
checks before the first byte, one read snapshot for the whole file, and the
``X-Carbon-Last-Recalculation-Job`` header naming the last recalculation the file reflects."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from carbon_api.errors import http_error
from carbon_domain.db.session import session_scope
from carbon_domain.errors import CarbonError
from carbon_domain.services.exports import exports

HEADER = "X-Carbon-Last-Recalculation-Job"


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


def stream_csv(name: str, job: int | None, produce: Callable[[Any], Iterator[str]]
            ) -> StreamingResponse:
    def body() -> Iterator[bytes]:
        with session_scope() as s:
            exports.snapshot(s)
            for chunk in produce(s):
                yield chunk.encode("utf-8")
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": content_disposition(name),
        HEADER: str(job) if job is not None else "none"})


def precheck_export(year: int, det: int | None, unit: str | None, allow_stale: bool) -> int | None:
    with session_scope() as s:
        try:
            exports.check_year(s, year, unit)
            if not allow_stale:
                exports.ensure_not_running(s, year, det)
        except CarbonError as exc:  # ExportNotFound, ExportBlocked: for the console's page too
            raise http_error(exc) from None
        return exports.last_recalculation_job_id(s, year, det)
