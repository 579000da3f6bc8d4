"""A bounded multipart reader for the console's upload form: the same limits and the same
413/415/400/422 sentences as the API's ``carbon_api.deps.read_upload``, plus the form's text
fields (kind, module, type, year, "recalculate after upload", CSRF token)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from carbon_api.console.web import message
from carbon_api.deps import (
    Upload,
    bounded_form,
    clean_content_type,
    clean_filename,
    too_large,
)
from carbon_domain.settings import get_settings


@dataclass(frozen=True)
class UploadForm:
    upload: Upload
    fields: dict[str, str]


def _fail(request: Request, exc: HTTPException) -> Response:
    return message(request, str(exc.detail), exc.status_code)


async def read_form(request: Request) -> UploadForm | Response:
    limit = get_settings().max_upload_bytes
    try:
        form = await bounded_form(request, limit, max_fields=12)
    except HTTPException as exc:
        return _fail(request, exc)
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile) or not part.filename:
            return message(request, "Choose a CSV file first (a file part named 'file' is "
                                    "required)", 422)
        content = await part.read(limit + 1)
        if len(content) > limit:
            return _fail(request, too_large(limit))
        fields = {k: v[:200] for k, v in form.multi_items() if isinstance(v, str)}
        return UploadForm(Upload(content, clean_filename(part.filename),
                                 clean_content_type(part.content_type)), fields)
    finally:
        await form.close()
