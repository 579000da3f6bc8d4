"""Undo an upload: ``POST /v1/sync/uploads/{job_id}/revert`` starts a new upload that
restores the factor set (or the data entries) of that upload's scope as it was just before
it. :func:`start_revert` is shared with the console and the CLI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from carbon_api.accepting import accept_operation
from carbon_api.deps import JobId, Operator
from carbon_api.errors import R404, R409, WRITE
from carbon_api.schemas import Accepted
from carbon_domain.db.session import session_scope
from carbon_domain.services.ingest.reverts import RevertPlan, plan_revert
from carbon_domain.upload_kinds import UploadKind, UploadMode
from carbon_tasks import operations as ops

router = APIRouter(prefix="/sync", tags=["sync"])


@router.post("/uploads/{job_id}/revert", status_code=202, response_model=Accepted,
             responses={**WRITE, 404: {**R404, "description": "No such job."},
                        409: {**R409, "description": "A later upload of the same scope "
                                                     "exists (named), or nothing to revert."},
                        422: {"description": "The job is not a factor or data entry "
                                             "upload."}})
def revert_upload(who: Operator, job_id: JobId,
                  recalculate: Annotated[bool | None, Query(
                      description="Recalculate the affected types after the revert "
                                  "(default: as the reverted upload asked).")] = None,
                  ) -> Accepted:
    """Restore what an upload of factors or data entries changed, for its scope (module,
    type and year), to what it was just before it, as a **new** upload job (named
    `revert-of-job-N.csv`). Factors: a replace-mode file of the previous set; factors it
    inserted or revived are retired again, those it updated or retired get their previous
    values back; the history, staleness and incremental recalculation apply as to any
    upload. Data entries: the previous upload of the same scope is loaded again (uploaded
    files are kept). 409 when a later upload of the same scope exists (revert that one
    first) or there is nothing to restore."""
    with session_scope() as s:
        plan = plan_revert(s, job_id)  # RevertRefused answers by its kind
    return accept_operation("revert", lambda: start_revert(plan, who.name, recalculate))


def start_revert(plan: RevertPlan, created_by: str, recalculate: bool | None = None
                 ) -> ops.Accepted:
    """The revert's upload: a replace-mode factor file, or the previous entry file."""
    again = plan.recalculate if recalculate is None else recalculate
    if plan.kind == UploadKind.factors:
        return ops.start_upload(
            UploadKind.factors, plan.content, filename=plan.filename, module=plan.module_type_id,
            det=plan.data_entry_type_id, year=plan.year, recalculate=again,
            created_by=created_by, content_type="text/csv", mode=UploadMode.REPLACE)
    return ops.start_upload(
        plan.kind, plan.content, filename=plan.filename, module=plan.module_type_id,
        det=plan.data_entry_type_id, year=plan.year, created_by=created_by,
        content_type="text/csv")
