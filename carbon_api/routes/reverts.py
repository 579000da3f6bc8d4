"""Undo an upload: ``POST /v1/sync/uploads/{job_id}/revert`` starts a new upload that
restores the factor set (the data entries, or the reference set) of that upload's scope as
it was just before it; with ``preview=true`` it previews that upload instead. :func:`start_revert`
and :func:`preview_revert` are shared with the console (and the first with the CLI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from carbon_api.accepting import accept_operation
from carbon_api.deps import JobId, Operator
from carbon_api.errors import R404, R409, WRITE
from carbon_api.routes.previews import PreviewAccepted, accept_preview
from carbon_api.schemas import Accepted
from carbon_domain.db.session import session_scope
from carbon_domain.services.ingest.reverts import RevertPlan, plan_revert
from carbon_domain.upload_kinds import UploadKind, UploadMode
from carbon_tasks import operations as ops

router = APIRouter(prefix="/sync", tags=["sync"])


@router.post("/uploads/{job_id}/revert", status_code=202, response_model=PreviewAccepted,
             response_model_exclude_none=True,
             responses={**WRITE, 404: {**R404, "description": "No such job."},
                        409: {**R409, "description": "A later upload of the same scope "
                                                     "exists (named), or nothing to revert."},
                        422: {"description": "The job is not a factor, data entry or "
                                             "reference upload."}})
def revert_upload(who: Operator, job_id: JobId,
                  recalculate: Annotated[bool | None, Query(
                      description="Recalculate the affected types after the revert "
                                  "(default: as the reverted upload asked).")] = None,
                  preview: Annotated[bool, Query(
                      description="Compute what the revert would do, write nothing: the "
                                  "answer's `preview_id` is read at GET /v1/sync/previews/"
                                  "{id} and applied at POST …/apply.")] = False,
                  ) -> Accepted:
    """Restore what an upload of factors or data entries changed, for its scope (module, type and
    year), to what it was just before it, as a **new** upload job (named `revert-of-job-N.csv`).
    Factors: a replace-mode file of the previous set; factors it inserted or revived are retired
    again, those it updated or retired get their previous values back; the history, staleness and
    incremental recalculation apply as to any upload. Data entries: the previous upload of the same
    scope is loaded again (uploaded files are kept); reverting the scope's first upload empties the
    types it loaded. Reference data (stations, building rooms, exchange rates): a replace-mode file
    of the live set before the upload (its readers become stale). 409 when a later upload of the
    same scope exists (revert that one first) or there is nothing to restore. With `preview=true`:
    the revert's upload is previewed, not run."""
    with session_scope() as s:
        plan = plan_revert(s, job_id)  # RevertRefused answers by its kind
    if preview:
        return preview_revert(plan, who.name)
    return accept_operation("revert", lambda: start_revert(plan, who.name, recalculate))


def preview_revert(plan: RevertPlan, created_by: str) -> PreviewAccepted:
    """The revert's upload previewed, not run (the API's ``preview=true`` and the console's
    "Preview this revert")."""
    return accept_preview(created_by, plan.kind, plan.content, filename=plan.filename,
                          module=plan.module_type_id, det=plan.data_entry_type_id,
                          year=plan.year, content_type="text/csv",
                          reverts_job_id=plan.job_id, what="revert", clears=plan.clears)


def start_revert(plan: RevertPlan, created_by: str, recalculate: bool | None = None
                 ) -> ops.Accepted:
    """The revert's upload: a replace-mode factor or reference file, or the previous entry
    file."""
    again = plan.recalculate if recalculate is None else recalculate
    if plan.kind == UploadKind.factors:
        return ops.start_upload(
            UploadKind.factors, plan.content, filename=plan.filename, module=plan.module_type_id,
            det=plan.data_entry_type_id, year=plan.year, recalculate=again,
            created_by=created_by, content_type="text/csv", mode=UploadMode.REPLACE,
            reverts_job_id=plan.job_id)
    if plan.module_type_id is None:  # reference data
        return ops.start_upload(plan.kind, plan.content, filename=plan.filename,
                                created_by=created_by, content_type="text/csv",
                                mode=UploadMode.REPLACE, reverts_job_id=plan.job_id)
    return ops.start_upload(
        plan.kind, plan.content, filename=plan.filename, module=plan.module_type_id,
        det=plan.data_entry_type_id, year=plan.year, created_by=created_by,
        content_type="text/csv", clears=plan.clears, reverts_job_id=plan.job_id)
