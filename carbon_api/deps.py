"""Request parsing shared by the routes: bearer auth and roles, validated ids and years, and
the bounded multipart upload reader.

Dependency order matters: routes declare the auth dependency before the upload one, so an
unauthenticated or viewer request is refused before its body is read.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import FormData, UploadFile
from starlette.requests import ClientDisconnect
from starlette.types import Message

from carbon_api.errors import invalid_input
from carbon_api.logging import bind
from carbon_domain.catalog import (  # YEAR_MIN, YEAR_MAX: re-exported for the console
    MODULE_DATA_ENTRY_TYPES,
    YEAR_MAX,
    YEAR_MIN,
    DataEntryType,
    ModuleType,
    check_module_type,
)
from carbon_domain.db.enums import Role
from carbon_domain.db.session import session_scope
from carbon_domain.errors import InvalidInput
from carbon_domain.services.access.tokens import TokenInfo, verify_token
from carbon_domain.settings import get_settings

# -- authentication ---------------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False, scheme_name="bearer",
    description="An API token from `carbon tokens create --name NAME --role viewer|operator`.")


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="carbon"' + (f', error="{error}"' if error else "")
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


def authenticate(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> TokenInfo:
    """The token's owner; 401 when the header is missing, malformed, unknown or revoked."""
    if credentials is None:
        raise _unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'")
    with session_scope() as s:
        who = verify_token(s, credentials.credentials)
    if who is None:
        raise _unauthorized("Invalid or revoked token", "invalid_token")
    bind(user=who.name, role=who.role.value)
    return who


def require_operator(who: Annotated[TokenInfo, Depends(authenticate)]) -> TokenInfo:
    if who.role != Role.operator:
        raise HTTPException(
            403, f"Token {who.name!r} has role {who.role.value}; this action needs role operator")
    return who


Viewer = Annotated[TokenInfo, Depends(authenticate)]
Operator = Annotated[TokenInfo, Depends(require_operator)]

# -- ids and years ----------------------------------------------------------------------------

INT32_MAX = 2**31 - 1
_MODULES_DOC = ", ".join(f"{m.value}={m.name}" for m in ModuleType)
_DETS_DOC = "; ".join(
    f"{m.name}: " + ", ".join(f"{d.value}={d.name}" for d in dets)
    for m, dets in MODULE_DATA_ENTRY_TYPES.items())

Year = Annotated[int, Query(ge=YEAR_MIN, le=YEAR_MAX, description="Reporting year.",
                            examples=[2025])]
OptionalYear = Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX,
                                           description="Reporting year.")]
ModulePath = Annotated[ModuleType, Path(description=f"Module type id: {_MODULES_DOC}.",
                                        examples=[4])]
ModuleQuery = Annotated[ModuleType | None, Query(description=f"Module type id: {_MODULES_DOC}.")]
DetPath = Annotated[DataEntryType, Path(description=f"Data entry type id ({_DETS_DOC}).",
                                        examples=[11])]
DetQuery = Annotated[DataEntryType | None, Query(
    description=f"Restrict to one data entry type of the module ({_DETS_DOC}).")]
BIGINT_MAX = 2**63 - 1
YearPath = Annotated[int, Path(ge=YEAR_MIN, le=YEAR_MAX, description="Reporting year.")]
JobId = Annotated[int, Path(ge=1, le=INT32_MAX, description="Job id.", examples=[42])]
ReportId = Annotated[int, Path(ge=1, le=INT32_MAX, description="Carbon report id.")]
FactorId = Annotated[int, Path(ge=1, le=INT32_MAX, description="Factor id.")]
EntryId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="Data entry id.")]
PipelineId = Annotated[uuid.UUID, Path(description="Pipeline id (UUID).")]


def check_det_in_module(module: ModuleType, det: DataEntryType | None, where: str) -> None:
    """422, shaped like any other validation error, when ``det`` is not a type of ``module``."""
    try:
        check_module_type(module, det)
    except InvalidInput as exc:
        raise invalid_input(exc, where) from None


# -- uploads ----------------------------------------------------------------------------------

# Room for the multipart envelope (boundaries, part headers) around the file itself.
_MULTIPART_SLACK = 64 * 1024
_SAFE_NAME = re.compile(r"[^\w.\- ()]+")

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {
                "type": "string", "format": "binary",
                "description": "UTF-8 CSV with a header row. A column the upload kind"
                               " does not use is not read: it is named in the job"
                               " (meta.unknown_columns, with the nearest expected"
                               " name) and makes the result WARNING.",
            }},
        }}},
    }
}


@dataclass(frozen=True)
class Upload:
    content: bytes
    filename: str
    content_type: str | None


class _TooLarge(Exception):
    pass


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"The upload is larger than the limit of {limit} bytes")


def clean_filename(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _SAFE_NAME.sub("_", base).strip(" .")[:200]
    return base or "upload.csv"


def clean_content_type(value: str | None) -> str | None:
    if not value:
        return None
    value = "".join(ch for ch in value if ch.isprintable())[:128]
    return value or None


async def bounded_form(request: Request, limit: int, *, max_fields: int) -> FormData:
    """The multipart form of a request, read at most up to ``limit`` bytes (plus the
    multipart framing). 413 as soon as the declared Content-Length or the bytes actually
    received exceed it (a chunked body has no Content-Length); 415 for a body that is not
    multipart; 400 for a malformed or interrupted one. Shared by the API and the console."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        raise too_large(limit)
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith("multipart/form-data"):
        raise HTTPException(415, "Send the CSV as multipart/form-data with a part named 'file'")

    received = 0
    receive = request.receive

    async def bounded_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit + _MULTIPART_SLACK:
                raise _TooLarge
        return message

    bounded = Request(request.scope, bounded_receive)
    try:
        return await bounded.form(max_files=1, max_fields=max_fields)
    except _TooLarge:
        raise too_large(limit) from None
    except ClientDisconnect:
        raise HTTPException(400, "The client disconnected before the upload was complete"
                            ) from None
    except HTTPException as exc:  # Starlette's own MultiPartException → 400
        raise HTTPException(400, f"Malformed multipart body: {exc.detail}") from None


async def upload_part(form: FormData, limit: int) -> Upload | None:
    """The form's ``file`` part, read up to ``limit`` bytes (413 past it), with a cleaned
    file name and content type; None when the form has no file part. Shared by the API and
    the console."""
    part = form.get("file")
    if not isinstance(part, UploadFile):
        return None
    content = await part.read(limit + 1)
    if len(content) > limit:
        raise too_large(limit)
    return Upload(content, clean_filename(part.filename), clean_content_type(part.content_type))


async def read_upload(request: Request) -> Upload:
    """The ``file`` part of a multipart body (``bounded_form``'s limits and errors); 422 when
    there is no ``file`` part."""
    limit = get_settings().max_upload_bytes
    form = await bounded_form(request, limit, max_fields=10)
    try:
        upload = await upload_part(form, limit)
        if upload is None:
            raise RequestValidationError([{
                "type": "missing", "loc": ("body", "file"), "input": None,
                "msg": "a file part named 'file' is required"
                       + (" (got a text field)" if form.get("file") is not None else ""),
            }])
        return upload
    finally:
        await form.close()


FileUpload = Annotated[Upload, Depends(read_upload)]
