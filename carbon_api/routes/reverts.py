"""Undo a factor upload: ``POST /v1/sync/uploads/{job_id}/revert`` starts a new upload that
restores the factor set of that upload's scope as it was just before it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from carbon_api.accepting import accept_operation
from carbon_api.deps import JobId, Operator
from carbon_api.errors import R404, R409, WRITE
from carbon_api.schemas import Accepted
from carbon_domain.db.session import session_scope
from carbon_domain.services.reverts import RevertRefused, plan_factor_revert
from carbon_tasks import operations as ops

router = APIRouter(prefix="/sync", tags=["sync"])


@router.post("/uploads/{job_id}/revert", status_code=202, response_model=Accepted,
             responses={**WRITE, 404: {**R404, "description": "No such job."},
                        409: {**R409, "description": "A later upload of the same scope "
                                                     "exists (named), or nothing to revert."},
                        422: {"description": "The job is not a factor upload."}})
def revert_upload(who: Operator, job_id: JobId,
                  recalculate: Annotated[bool | None, Query(
                      description="Recalculate the affected types after the revert "
                                  "(default: as the reverted upload asked).")] = None,
                  ) -> Accepted:
    """Restore the factors of a factor upload's scope (its module, type and year) to what
    they were just before it, as a **new** upload job (a replace-mode file, named
    `revert-of-job-N.csv`): factors it inserted or revived are retired again, those it
    updated or retired get their previous values back; the history, staleness and
    incremental recalculation apply as to any upload. 409 when a later factor upload of the
    same scope exists (revert that one first)."""
    with session_scope() as s:
        try:
            plan = plan_factor_revert(s, job_id)
        except RevertRefused as exc:
            raise HTTPException(exc.status, str(exc)) from None
    return accept_operation("revert", lambda: ops.start_upload(
        "factors", plan.content, filename=plan.filename, module=plan.module_type_id,
        det=plan.data_entry_type_id, year=plan.year,
        recalculate=plan.recalculate if recalculate is None else recalculate,
        created_by=who.name, content_type="text/csv", mode="replace"))
