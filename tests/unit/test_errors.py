"""One error hierarchy (docs/design.md §10): every deliberate refusal is a CarbonError whose
kind becomes a status code in one table at the edge; a bare ValueError is a bug, never a 400
that blames the request."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

import carbon_api
import carbon_domain
import carbon_tasks
from carbon_api.accepting import accept_operation
from carbon_api.errors import STATUS, install, status_of
from carbon_domain.errors import (
    CarbonError,
    Conflict,
    ErrorKind,
    Gone,
    InvalidInput,
    NotFound,
    Refused,
    Unavailable,
    Unusable,
)
from carbon_domain.services.inputs.csv_input import CsvProblem
from carbon_tasks import operations as ops


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_all_subclasses(sub)}
    return out


def test_every_kind_has_one_status() -> None:
    assert set(STATUS) == set(ErrorKind)
    assert {STATUS[k] for k in ErrorKind} == {400, 404, 409, 410, 422, 503}


def test_every_error_class_of_the_code_has_a_kind() -> None:
    for pkg in (carbon_domain, carbon_tasks, carbon_api):
        for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if not mod.name.endswith("__main__"):
                importlib.import_module(mod.name)
    classes = _all_subclasses(CarbonError)
    names = {c.__name__ for c in classes}
    # The service errors callers and tests know by name are in the hierarchy.
    assert {"CsvProblem", "NothingToRecalculate", "YearNotProvisioned", "DispatchFailed",
            "BrokerUnavailable", "PipelineNotFound", "CannotRecover", "ExportNotFound",
            "ExportBlocked", "RevertRefused", "PreviewRefused"} <= names
    for c in classes - {Refused} - _all_subclasses(Refused):
        assert isinstance(c.kind, ErrorKind), c


def _app() -> FastAPI:
    app = FastAPI()
    install(app)
    raises = {
        "bug": ValueError("int() of 'x'"), "lookup": KeyError("x"),
        "missing": NotFound("job 42 not found"), "busy": Conflict("still running"),
        "gone": Gone("expired"), "bad": Unusable("the file is empty"),
        "down": Unavailable("broker unreachable"),
        "field": InvalidInput("data entry type 20 does not belong to module 4",
                              field="data_entry_type_id", value=20),
        "refused": Refused(ErrorKind.CONFLICT, "job 7 is RUNNING"),
    }

    @app.get("/{what}")
    def route(what: str) -> None:
        raise raises[what]
    return app


def test_the_api_answers_each_kind_once_and_a_bug_as_an_internal_error() -> None:
    http = TestClient(_app(), raise_server_exceptions=False)
    for what, status in (("missing", 404), ("busy", 409), ("gone", 410), ("bad", 400),
                         ("down", 503), ("refused", 409)):
        r = http.get(f"/{what}")
        assert r.status_code == status, what
        assert set(r.json()) == {"detail"}, what
    assert http.get("/missing").json() == {"detail": "job 42 not found"}
    assert http.get("/down").headers["Retry-After"] == "30"
    r = http.get("/field")
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["loc"] == ["query", "data_entry_type_id"] and err["input"] == 20
    # A bare ValueError / KeyError is our bug: not a 4xx telling the caller it was theirs.
    assert http.get("/bug").status_code == 500
    assert http.get("/lookup").status_code == 500


def test_status_of_reads_the_instance_kind_of_a_refusal() -> None:
    assert status_of(Refused(ErrorKind.NOT_FOUND, "x")) == 404
    assert status_of(Refused(ErrorKind.INVALID, "x")) == 422
    assert status_of(ops.YearNotProvisioned("x")) == 409
    assert status_of(ops.NothingToRecalculate("x")) == 400


def test_accept_operation_maps_refusals_and_lets_a_bug_through() -> None:
    def raising(exc: Exception) -> ops.Accepted:
        raise exc

    with pytest.raises(HTTPException) as info:
        accept_operation("factors upload", lambda: raising(CsvProblem("the file is empty")))
    assert (info.value.status_code, info.value.detail) == (
        400, "factors upload rejected: the file is empty")
    with pytest.raises(HTTPException) as info:
        accept_operation("recalculation", lambda: raising(ops.NothingToRecalculate("none")))
    assert (info.value.status_code, info.value.detail) == (400, "none")
    with pytest.raises(HTTPException) as info:
        accept_operation("units upload", lambda: raising(ops.YearNotProvisioned("no 2031")))
    assert info.value.status_code == 409
    with pytest.raises(RequestValidationError):
        accept_operation("x", lambda: raising(InvalidInput("bad", field="mode", value="y")))
    with pytest.raises(ValueError, match="a bug"):
        accept_operation("x", lambda: raising(ValueError("a bug")))


def test_the_cli_describes_refusals_and_keeps_a_bugs_traceback() -> None:
    from carbon_api.cli.failures import describe_error

    assert describe_error(NotFound("pipeline 1 not found")) == "pipeline 1 not found"
    assert describe_error(InvalidInput("unknown module 'x'", field="module")) == (
        "unknown module 'x'")
    assert describe_error(ValueError("a bug")) is None
