"""Impact previews of uploads: ``?preview=true`` on ``POST /v1/sync/factors/{module}``,
``/data-entries/{module}``, ``/reference/{kind}`` and ``/uploads/{job_id}/revert`` starts
one (:func:`accept_preview`, called by those routes); these routes read, apply and discard
it. The figures are computed by a job (queue ``recalc``) in a transaction that is rolled
back; applying uploads the previewed file as a normal upload (services/preview/)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from carbon_api.accepting import accept_operation
from carbon_api.deps import Operator, Viewer
from carbon_api.errors import R404, R409, READ, WRITE, Responses
from carbon_api.schemas import Accepted
from carbon_domain.db.session import session_scope
from carbon_domain.services.preview import previews as service
from carbon_domain.upload_kinds import UploadKind
from carbon_tasks import operations as ops
from carbon_tasks.previews import start_preview

_METHODS: dict[str, set[str]] = {}


class SharedPathRoute(APIRoute):
    """A route whose path has other methods: its 405 names all of them in ``Allow`` (Starlette
    names only the first route matched, so `GET` and `DELETE` on one path answered a PUT
    with `Allow: GET`)."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        _METHODS.setdefault(self.path, set()).update(self.methods or ())

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allowed = ", ".join(sorted(_METHODS.get(self.path, self.methods)))
            await JSONResponse({"detail": "Method Not Allowed"}, 405,
                               headers={"Allow": allowed})(scope, receive, send)
            return
        await super().handle(scope, receive, send)


router = APIRouter(prefix="/sync", tags=["sync"], route_class=SharedPathRoute)
PreviewId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Preview id.", examples=[3])]
_GONE: Responses = {404: {**R404, "description": "No such preview (or it was discarded)."}}


class PreviewAccepted(Accepted):
    """An upload's answer; with `preview=true`, also the id of the preview it computes."""

    preview_id: int | None = None


def accept_preview(who: str, kind: str, content: bytes, *, filename: str,
                   module: int | None = None, det: int | None = None, year: int | None = None,
                   mode: str = "replace", content_type: str | None = None,
                   allow_unknown_columns: bool = False, reverts_job_id: int | None = None,
                   what: str | None = None, clears: tuple[int, ...] = ()) -> PreviewAccepted:
    """An upload route with `preview=true`: the upload's checks and answers (the same 4xx
    sentences), plus the preview's id."""
    ids: list[int] = []

    def start() -> ops.Accepted:
        acc, preview_id = start_preview(
            kind, content, filename=filename, module=module, det=det, year=year,
            created_by=who, content_type=content_type, mode=mode,
            allow_unknown_columns=allow_unknown_columns, reverts_job_id=reverts_job_id,
            clears=clears)
        ids.append(preview_id)
        return acc
    acc = accept_operation(what or f"{kind} upload", start)
    return PreviewAccepted(**acc.model_dump(), preview_id=ids[0])


def accept_factor_preview(who: str, content: bytes, *, filename: str, module: int,
                          det: int | None, year: int, mode: str,
                          content_type: str | None,
                          allow_unknown_columns: bool = False) -> PreviewAccepted:
    """:func:`accept_preview` of a factor file (the console's "Preview impact")."""
    return accept_preview(who, UploadKind.factors, content, filename=filename, module=module,
                          det=det, year=year, mode=mode, content_type=content_type,
                          allow_unknown_columns=allow_unknown_columns)


# The domain's dataclass is the response model: one definition of what a preview shows.
@router.get("/previews/{preview_id}", response_model=service.PreviewView,
            responses={**READ, **_GONE})
def read_preview(_: Viewer, preview_id: PreviewId) -> dict[str, Any]:
    """A preview of a factor, data entry or reference upload (`kind`; `module_type_id` and
    `year` are null for reference data; `reverts_job_id` for a revert's preview): its job's
    state and progress while it is computed, then `figures`: `factors` (counts of inserted
    / updated / retired / revived / unchanged and the changes with values before and
    after), `reference` (a reference file's rows added, updated, retired), `upload`,
    `entries` (per data entry type: entries before and after, affected, added, removed,
    losing their factor, without factor), `computed`, kg CO2-eq `before` / `after` /
    `delta` as `total`, `by_module`, `by_unit`, `by_emission_type` and
    `by_unit_module_type`, the 20 `top_changes` (entry — or, for data entries, unit and
    type — kg before and after, factor before and after) and `losing_factor` (entries that
    would have no factor after the change)."""
    with session_scope() as s:
        return asdict(service.read_preview(s, preview_id))


@router.post("/previews/{preview_id}/apply", status_code=202, response_model=Accepted,
             responses={**WRITE, **_GONE, 409: {**R409, "description": (
                 "Not computed (yet), already applied, or an input of the module and year "
                 "changed since the preview was computed (named).")},
                 410: {"description": "The preview expired."}})
def apply_preview(who: Operator, preview_id: PreviewId) -> Accepted:
    """Upload the previewed file as a normal upload of its kind — a factor file with
    recalculation, a data entry file (always recalculated), a reference file (its readers
    become stale: recalculate them to see the previewed totals) — so what it does is what
    the preview showed (409 when any input of the figures changed since)."""
    with session_scope() as s:
        plan = service.plan_apply(s, preview_id)  # locks the preview row until commit
        acc = accept_operation("preview apply", lambda: start_apply(plan, who.name))
        service.mark_applied(s, preview_id, acc.job_id)
    return acc


def start_apply(plan: service.ApplyPlan, created_by: str) -> ops.Accepted:
    """The previewed file uploaded as it was previewed: its kind, mode, column allowance
    and (a first upload's revert) the types it empties. Shared with the console."""
    return ops.start_upload(
        plan.kind, plan.content, filename=plan.filename, module=plan.module_type_id,
        det=plan.data_entry_type_id, year=plan.year, recalculate=True, created_by=created_by,
        content_type="text/csv", mode=plan.mode,
        allow_unknown_columns=plan.allow_unknown_columns, clears=plan.clears,
        reverts_job_id=plan.reverts_job_id)


@router.delete("/previews/{preview_id}", status_code=204, responses={**WRITE, **_GONE})
def discard_preview(_: Operator, preview_id: PreviewId) -> None:
    """Forget a preview (its job and file stay in the job history)."""
    with session_scope() as s:
        service.discard_preview(s, preview_id)
