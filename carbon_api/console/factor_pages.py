"""Factors in the console: a listing (module, type, year, retired too), one factor's page
with its history timeline (GET /v1/factors/{id}/history), and one entry explained (the API's
explain view) whose factors link to their pages with the version the rows were computed
with; and "Revert" of a factor upload (from a pipeline's details)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from carbon_api.console.actions import start_operation
from carbon_api.console.forms import OperatorForm
from carbon_api.console.web import PREFIX, PageQuery, User, message, render
from carbon_api.deps import DetQuery, EntryId, FactorId, JobId, OptionalYear
from carbon_api.errors import status_of
from carbon_api.routes.reverts import start_revert
from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.db.session import session_scope
from carbon_domain.services.ingest.reverts import RevertRefused, plan_revert
from carbon_domain.services.inputs.factor_history import factor_timeline
from carbon_domain.services.inputs.factor_listing import list_factors
from carbon_domain.services.reads import drilldown

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = 100


@router.get("/factors", name="console_factors")
def factors(request: Request, user: User,
            det: DetQuery = None, year: OptionalYear = None,
            retired: Annotated[bool, Query()] = False,
            page: PageQuery = 1) -> Response:
    with session_scope() as s:
        found = list_factors(s, data_entry_type_id=det.value if det else None, year=year,
                             include_retired=retired, limit=PAGE, offset=(page - 1) * PAGE)
    return render(request, "factors.html", rows=found.items, total=found.total, page=page,
                  pages=max(1, -(-found.total // PAGE)), dets=list(DataEntryType),
                  f={"det": det.value if det else None, "year": year, "retired": retired})


@router.get("/factors/{factor_id}", name="console_factor")
def factor(request: Request, user: User, factor_id: FactorId) -> Response:
    with session_scope() as s:
        found = factor_timeline(s, factor_id)
    if found is None:
        return message(request, f"Factor {factor_id} not found.", 404)
    return render(request, "factor.html", f=found.factor,
                  changes=list(reversed(found.changes)))


@router.get("/entries/{entry_id}", name="console_entry")
def entry(request: Request, user: User, entry_id: EntryId) -> Response:
    with session_scope() as s:
        found = drilldown.explain_data_entry(s, entry_id)
    if found is None:
        return message(request, f"Data entry {entry_id} not found.", 404)
    return render(request, "entry.html", e=found,
                  module=ModuleType(found.module_type_id).name)


@router.post("/uploads/{job_id}/revert", name="console_revert")
async def revert(request: Request, posted: OperatorForm, job_id: JobId) -> Response:
    return await run_in_threadpool(_revert, request, posted.user.name, job_id)


def _revert(request: Request, by: str, job_id: int) -> Response:
    with session_scope() as s:
        try:
            plan = plan_revert(s, job_id)
        except RevertRefused as exc:
            return message(request, str(exc), status_of(exc))
    return start_operation(request, "revert", lambda: start_revert(plan, by), card="")
