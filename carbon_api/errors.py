"""Error bodies, the documented error responses of each route, and the exception handlers.

The one place an error kind of the domain (``carbon_domain/errors.py``) becomes an HTTP
status: :data:`STATUS`. The API's handler, ``accepting.accept_operation`` and the console
(:func:`status_of`) all read it. There is deliberately no catch-all: an exception outside
the hierarchy (a bare ``ValueError`` included) is a bug, answered by Starlette as a logged
500, never as the user's fault. The database handler maps *infrastructure* failures
(database unreachable) to 503: this JSON body for the API; the console answers its own
pages with an HTML page (``carbon_api.console.web.database_down``), ``/metrics`` with what
it can read without the database (``carbon_database_up`` 0).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from carbon_domain.errors import CarbonError, ErrorKind, InvalidInput

log = logging.getLogger("carbon.api")

# Connection loss, a restart, and transient conflicts (deadlock, serialization failure) all
# surface as OperationalError: each is worth retrying, none is the client's fault.
DATABASE_UNAVAILABLE = "The database is unreachable or busy; try again in a moment."


class ErrorResponse(BaseModel):
    """Every non-422 error: one human sentence naming the problem."""

    detail: str = Field(description="What went wrong, in one sentence.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "job 42 not found"}]})


class DispatchErrorResponse(ErrorResponse):
    """503 from a route that starts work: the job row is kept and will be dispatched."""

    job_id: int | None = Field(None, description="The job that was saved but not dispatched.")
    pipeline_id: str | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "detail": "Job 17 was saved but the message broker is unreachable (Error 111 "
                  "connecting to redis:6379. Connection refused.); it stays NOT_STARTED and "
                  "is dispatched automatically when the broker is back. Do not resubmit.",
        "job_id": 17, "pipeline_id": "0b8a6f2e-3c1d-4e5f-9a7b-2c4d6e8f0a1b"}]})


def _doc(description: str, example: str, model: type[BaseModel] = ErrorResponse
         ) -> dict[str, Any]:
    return {"model": model, "description": description,
            "content": {"application/json": {"example": {"detail": example}}}}


R400 = _doc("The request cannot be used (e.g. the CSV is not UTF-8, has no data rows or "
            "misses a required column). Nothing was written.",
            "data-entries upload rejected: the file is not UTF-8 text (invalid byte 0xe9 at "
            "position 12); export it as CSV UTF-8")
R401 = _doc("Missing, malformed, unknown or revoked bearer token.",
            "Missing bearer token: send 'Authorization: Bearer <token>'")
R403 = _doc("The token's role may not do this (viewers only read).",
            "Token 'dashboard' has role viewer; this action needs role operator")
R404 = _doc("No such resource.", "job 42 not found")
R409 = _doc("The resource is not in a state that allows this.",
            "pipeline 0b8a6f2e-… has nothing active to abort (status SUCCESS)")
R413 = _doc("The upload exceeds the size limit (CARBON_MAX_UPLOAD_BYTES).",
            "The upload is larger than the limit of 52428800 bytes")
R415 = _doc("The body is not multipart/form-data.",
            "Send the CSV as multipart/form-data with a part named 'file'")
R503 = _doc("The database or message broker is unreachable.", DATABASE_UNAVAILABLE)
R503_DISPATCH = {
    "model": DispatchErrorResponse,
    "description": "The database or the message broker is unreachable. When the job row was "
                   "already saved, its id is returned and the job is dispatched automatically "
                   "once the broker is back (do not resubmit).",
}

# FastAPI's `responses=` type: status code (or "default") -> OpenAPI response object.
Responses = dict[int | str, dict[str, Any]]

READ: Responses = {401: R401, 503: R503}
WRITE: Responses = {401: R401, 403: R403, 503: R503_DISPATCH}
UPLOAD: Responses = {**WRITE, 400: R400, 409: R409, 413: R413, 415: R415}


class ApiError(Exception):
    """An error answered as a flat JSON body: ``{"detail": ..., **extra}``."""

    def __init__(self, status_code: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status_code, self.detail, self.extra = status_code, detail, extra


async def api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"Retry-After": "30"} if exc.status_code == 503 else None
    return JSONResponse({"detail": exc.detail, **exc.extra}, status_code=exc.status_code,
                        headers=headers)


def is_unavailable(exc: DBAPIError) -> bool:
    """The database did not answer (refused, timed out, connection lost), as opposed to a
    statement it refused, which is a bug."""
    return isinstance(exc, OperationalError | InterfaceError) or bool(exc.connection_invalidated)


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """Connection-class database errors → 503. Anything else is a bug: re-raise it."""
    assert isinstance(exc, DBAPIError)
    if not is_unavailable(exc):
        raise exc
    log.error("database unavailable: %s", str(exc).splitlines()[0][:300])
    return JSONResponse({"detail": DATABASE_UNAVAILABLE}, status_code=503,
                        headers={"Retry-After": "5"})


# What each kind of refusal answers over HTTP: the only such table.
STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.UNUSABLE: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.GONE: 410,
    ErrorKind.UNAVAILABLE: 503,
}


def status_of(exc: CarbonError) -> int:
    return STATUS[exc.kind]


def http_error(exc: CarbonError, where: str = "query") -> HTTPException | RequestValidationError:
    """A domain refusal as FastAPI raises it: InvalidInput as a validation error (``loc`` from
    ``where`` and its field), the others as their status with the refusal's sentence."""
    if isinstance(exc, InvalidInput):
        return invalid_input(exc, where)
    status = status_of(exc)
    return HTTPException(status, str(exc), headers={"Retry-After": "30"} if status == 503 else None)


async def carbon_error(request: Request, exc: Exception) -> Response:
    """A domain refusal no route translated itself: answered by its kind (:data:`STATUS`)."""
    assert isinstance(exc, CarbonError)
    err = http_error(exc)
    if isinstance(err, RequestValidationError):
        return await request_validation_exception_handler(request, err)
    return await http_exception_handler(request, err)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(CarbonError, carbon_error)


def invalid_input(exc: InvalidInput, where: str) -> RequestValidationError:
    """The domain's InvalidInput as a 422 shaped like FastAPI's own validation errors, so a
    bad module/type pair answers the same whichever check catches it first."""
    return RequestValidationError([{"type": "value_error", "loc": (where, exc.field),
                                    "input": exc.value, "msg": str(exc)}])
