"""How the console takes a state-changing form, the same way in every handler.

``OperatorForm`` (``SessionForm`` for signing out) is the one dependency of every POST: the
signed-in session, then the operator role — both before the body is read, so a viewer's or a
signed-out upload is refused unread — then the body, read once (an upload through
``deps.bounded_form``: the API's limits and 413/415/400 sentences; any other form is a few
fields, capped by ``http_limits.BodyLimitMiddleware``), then the session's CSRF token
(``X-CSRF-Token`` header, or the ``csrf_token`` field of a form sent without JavaScript).

The fields are typed pydantic models: FastAPI's own ``Annotated[Model, Form()]`` for a small
form, ``form_model(Model)`` for the upload card's text fields (FastAPI would read an upload's
whole body before any dependency ran). A problem an operator can meet is a ``problem(text)``:
the console shows its sentence as it is (422).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypedDict, TypeVar, get_origin

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from starlette.datastructures import FormData, UploadFile

from carbon_api.console.web import Refused, User, check_csrf, check_operator
from carbon_api.deps import YEAR_MAX, YEAR_MIN, Upload, bounded_form, upload_part
from carbon_api.http_limits import UPLOAD_PATHS
from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.services.access.console_sessions import ConsoleUser
from carbon_domain.settings import get_settings
from carbon_domain.upload_kinds import UploadKind, UploadMode


class FormLimits(TypedDict, total=False):
    """FastAPI's ``form_limits`` (a route's), as Starlette's ``request.form`` takes them."""

    max_files: int
    max_fields: int
    max_part_size: int


#: Every small console form: a CSRF token and a handful of short fields, no file.
FORM_LIMITS = FormLimits(max_files=0, max_fields=40, max_part_size=1024 * 1024)
#: The ``type`` of a problem whose sentence the console shows as it is (``console._invalid``).
PROBLEM = "console_form"
M = TypeVar("M", bound=BaseModel)


def problem(text: str) -> PydanticCustomError:
    """A form problem worded for the operator; raise it from a model's validator."""
    return PydanticCustomError(PROBLEM, "{text}", {"text": text})


@dataclass(frozen=True)
class Posted:
    """A POST that passed the session, role and CSRF checks, with its body."""

    user: ConsoleUser
    form: FormData


async def _read(request: Request) -> FormData:
    if UPLOAD_PATHS.match(request.url.path):
        try:
            return await bounded_form(request, get_settings().max_upload_bytes, max_fields=12)
        except HTTPException as exc:
            raise Refused(str(exc.detail), exc.status_code) from None
    # FastAPI has already parsed it for a route with a Form() model: Starlette keeps it.
    return await request.form(**FORM_LIMITS)


def field_text(value: Any) -> str | None:
    """A form field as text: a file part where text was expected reads as absent."""
    return value if isinstance(value, str) else None


@asynccontextmanager
async def _checked(request: Request, user: ConsoleUser) -> AsyncIterator[Posted]:
    form = await _read(request)
    try:
        check_csrf(request, user, field_text(form.get("csrf_token")))
        yield Posted(user, form)
    finally:
        await form.close()


async def session_form(request: Request, user: User) -> AsyncIterator[Posted]:
    async with _checked(request, user) as posted:
        yield posted


async def operator_form(request: Request, user: User) -> AsyncIterator[Posted]:
    check_operator(user)  # before the body is read
    async with _checked(request, user) as posted:
        yield posted


#: Signed in (any role) + CSRF: signing out.
SessionForm = Annotated[Posted, Depends(session_form)]
#: Signed in + role operator + CSRF: every action.
OperatorForm = Annotated[Posted, Depends(operator_form)]


def validate_form(model: type[M], form: FormData) -> M:
    """``model`` from the form's text fields as FastAPI reads a form (an empty field is an
    absent one; a list field takes every value, any other the last); 422 like FastAPI's own
    validation."""
    values: dict[str, list[str]] = {}
    for k, v in form.multi_items():
        if isinstance(v, str) and v != "":
            values.setdefault(k, []).append(v)
    listed = {k for k, f in model.model_fields.items() if get_origin(f.annotation) is list}
    try:
        return model.model_validate({k: vs if k in listed else vs[-1]
                                     for k, vs in values.items()})
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from None


def form_model(model: type[M]) -> Any:
    """A dependency: the operator's form (``OperatorForm``) as ``model``."""

    def parse(posted: OperatorForm) -> M:
        return validate_form(model, posted.form)

    return Depends(parse)


async def chosen_file(posted: OperatorForm) -> Upload:
    """The upload's file part (422 when no file was chosen), read up to the upload limit."""
    part = posted.form.get("file")
    if not isinstance(part, UploadFile) or not part.filename:
        raise Refused("Choose a CSV file first (a file part named 'file' is required)", 422)
    try:
        found = await upload_part(posted.form, get_settings().max_upload_bytes)
    except HTTPException as exc:
        raise Refused(str(exc.detail), exc.status_code) from None
    assert found is not None
    return found


ChosenFile = Annotated[Upload, Depends(chosen_file)]


# -- the forms' models ---------------------------------------------------------------------------

def _whole(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except ValueError:
        raise problem("year, module and type must be whole numbers") from None


def _kind(v: Any) -> UploadKind:
    try:
        return UploadKind(v)
    except ValueError:
        raise problem(f"Unknown upload kind {str(v)[:40]!r}") from None


def _mode(v: Any) -> UploadMode:
    try:
        return UploadMode(v)
    except ValueError:
        raise problem("The factor mode is “replace” or “merge”") from None


Whole = Annotated[int | None, BeforeValidator(_whole)]
Checkbox = Annotated[bool, BeforeValidator(lambda v: v == "on")]  # ticked: "on"; else absent
_YEARLY = (UploadKind.factors, UploadKind.data_entries, UploadKind.units)
_PER_MODULE = (UploadKind.factors, UploadKind.data_entries)


class UploadFields(BaseModel):
    """The upload card's text fields (``_upload.html``). What the kind does not use (a year
    for stations, a module for units) is dropped; whether the type belongs to the module,
    and the file itself, are the domain's checks (``operations.start_upload``)."""

    kind: Annotated[UploadKind, BeforeValidator(_kind)] = Field("", validate_default=True)
    year: Whole = None
    module: Whole = None
    det: Whole = None
    mode: Annotated[UploadMode, BeforeValidator(_mode)] = UploadMode.REPLACE
    recalculate: Checkbox = False
    allow_unknown_columns: Checkbox = False
    card: Annotated[str, BeforeValidator(lambda v: str(v)[:200])] = ""  # where the answer goes

    @model_validator(mode="after")
    def _for_the_kind(self) -> UploadFields:
        if self.kind in _YEARLY and (self.year is None or not YEAR_MIN <= self.year <= YEAR_MAX):
            raise problem(f"A year between {YEAR_MIN} and {YEAR_MAX} is required")
        if self.kind not in _YEARLY:
            self.year = None
        if self.kind not in _PER_MODULE:
            self.module = self.det = None
        elif self.module not in set(ModuleType):
            raise problem("Choose a module")
        elif self.det is not None and self.det not in set(DataEntryType):
            raise problem(f"Type {self.det} does not belong to module {self.module}")
        return self


class RecalcMode(StrEnum):
    stale = "stale"
    all = "all"
    selected = "selected"


def _recalc_mode(v: Any) -> RecalcMode:
    try:
        return RecalcMode(v)
    except ValueError:
        raise problem("Choose “only stale”, “all” or the checked types") from None


def _det(v: Any) -> DataEntryType:
    try:
        return DataEntryType(int(v))
    except ValueError:
        raise problem(f"{str(v)[:20]!r} is not a data entry type id") from None


class ModuleRecalcForm(BaseModel):
    """The recalculation dialog (``_recalc_dialog.html``): which of the module's types.
    Whether each belongs to the module is the domain's check."""

    mode: Annotated[RecalcMode, BeforeValidator(_recalc_mode)] = RecalcMode.stale
    det: list[Annotated[DataEntryType, BeforeValidator(_det)]] = []

    @model_validator(mode="after")
    def _something_chosen(self) -> ModuleRecalcForm:
        if self.mode == RecalcMode.selected and not self.det:
            raise problem("Choose at least one type to recalculate")
        return self
