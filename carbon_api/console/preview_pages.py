"""The impact preview in the console: "Preview impact" on a factor upload card starts a
preview (the API's ``accept_factor_preview``: the upload's checks and sentences, a
``factor_preview`` job on the ``recalc`` queue) whose progress the page's one live stream
shows; when it ends console.js loads the panel: deltas per module and per unit (sortable),
the entries per type, the 20 largest changes, the entries losing their factor (in red),
and "Apply" (the normal upload + recalculation pipeline; refused when an input changed
since the preview, or once it expired) or "Discard". The figures are the API's
``GET /v1/sync/previews/{id}``, unchanged: services/preview/previews.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from carbon_api.accepting import accept_operation
from carbon_api.console import pipelines as pl
from carbon_api.console.adapters import label
from carbon_api.console.forms import ChosenFile, OperatorForm, UploadFields, form_model
from carbon_api.console.web import PREFIX, User, is_htmx, landing_year, message, render, templates
from carbon_api.deps import INT32_MAX
from carbon_api.errors import ApiError, status_of
from carbon_api.routes.previews import accept_factor_preview, start_apply
from carbon_api.routes.reverts import preview_revert
from carbon_domain.catalog import MODULE_OF, DataEntryType, ModuleType
from carbon_domain.db.session import session_scope
from carbon_domain.services.ingest.reverts import RevertRefused, plan_revert
from carbon_domain.services.preview import previews as service
from carbon_domain.services.preview.preview_meter import new_without_factor, without_factor_phrase
from carbon_domain.services.reads import pipeline_reads
from carbon_domain.upload_kinds import UploadKind

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PreviewId = Annotated[int, Path(ge=1, le=INT32_MAX)]
UploadForm = Annotated[UploadFields, form_model(UploadFields)]


def _kg(v: Any) -> str:
    return f"{float(v):,.3f}" if isinstance(v, int | float) else "—"


def _signed_kg(v: Any) -> str:
    return f"{float(v):+,.3f}" if isinstance(v, int | float) else "—"


def _percent(delta: float, before: float) -> str:
    return f"{delta / before:+.2%}" if before else ("new" if delta else "—")


def _module_label(module_type_id: int) -> str:
    return label(ModuleType(module_type_id).name)


templates.env.filters.update(kg3=_kg, signed_kg3=_signed_kg, delta_percent=_percent,
                             module_label=_module_label, without_factor=without_factor_phrase,
                             det_label=pl.det_label)


@router.post("/previews", name="console_preview_start")
async def start(request: Request, posted: OperatorForm, fields: UploadForm,
                f: ChosenFile) -> Response:
    """The factor upload card's form (``forms.UploadFields``), previewed instead of uploaded.
    The card's "Allow unknown columns" box is passed on, so a preview accepts or refuses a
    misspelt column exactly as the upload would."""
    if fields.kind != UploadKind.factors:
        return message(request, "Only a factor upload can be previewed", 422)
    year, module, det = fields.year, fields.module, fields.det
    assert year is not None and module is not None  # UploadFields requires both for factors
    if det is not None and MODULE_OF[DataEntryType(det)] != module:
        return message(request, f"Type {det} does not belong to module {module}", 422)
    by = posted.user.name

    def call() -> Response:
        try:
            acc = accept_factor_preview(by, f.content, filename=f.filename, module=module,
                                        det=det, year=year, mode=fields.mode,
                                        content_type=f.content_type,
                                        allow_unknown_columns=fields.allow_unknown_columns)
        except HTTPException as exc:
            return message(request, str(exc.detail), exc.status_code)
        except ApiError as exc:
            return message(request, exc.detail, exc.status_code)
        if not is_htmx(request):  # a plain form post (no JavaScript): the preview's page
            return RedirectResponse(request.app.url_path_for(
                "console_preview", preview_id=acc.preview_id), status_code=303)
        return render(request, "_preview_started.html", accepted=acc,
                      preview_id=acc.preview_id)
    return await run_in_threadpool(call)


@router.post("/uploads/{job_id}/revert/preview", name="console_revert_preview")
async def revert_preview(request: Request, posted: OperatorForm,
                         job_id: Annotated[int, Path(ge=1, le=INT32_MAX)]) -> Response:
    """"Preview this revert" on a pipeline's details: what undoing the upload would do, in
    the same panel as an upload's preview; its "Apply" runs the revert's upload (the API's
    ``POST /v1/sync/uploads/{job_id}/revert?preview=true``)."""
    by = posted.user.name

    def call() -> Response:
        with session_scope() as s:
            try:
                plan = plan_revert(s, job_id)
            except RevertRefused as exc:
                return message(request, str(exc), status_of(exc))
        try:
            acc = preview_revert(plan, by)
        except HTTPException as exc:
            return message(request, str(exc.detail), exc.status_code)
        except ApiError as exc:
            return message(request, exc.detail, exc.status_code)
        return RedirectResponse(request.app.url_path_for(
            "console_preview", preview_id=acc.preview_id), status_code=303)
    return await run_in_threadpool(call)


def _view(preview_id: int) -> tuple[service.PreviewView, dict[str, Any] | None]:
    """The preview and its pipeline's card (what the page's stream shows of it: its real
    state, a failed preview's "✗ Failed" included)."""
    with session_scope() as s:
        v = service.read_preview(s, preview_id)
        card = pipeline_reads.view(s, v.pipeline_id) if v.pipeline_id else None
        return v, pl.summary(card) if card is not None else None


@router.get("/previews/{preview_id}", name="console_preview")
def panel(request: Request, user: User, preview_id: PreviewId) -> Response:
    """The panel (htmx), or a page holding it (a link, a reload); 404 once discarded."""
    try:
        view, card = _view(preview_id)
    except service.PreviewRefused as exc:
        return message(request, f"Preview {preview_id}: {exc}.", status_of(exc))
    context = {**_context(view), "p": card}
    if is_htmx(request):
        return render(request, "_preview_panel.html", **context)
    # A reference preview has no year: the page links to, and streams, the landing year
    # (the stream of a year also carries the reference uploads).
    year = view.year if view.year is not None else landing_year()
    return render(request, "preview.html", year=year, **context,
                  stream_url=request.app.url_path_for("events") + f"?year={year}")


def _context(v: service.PreviewView) -> dict[str, Any]:
    f = v.figures or {}
    losing = {c["data_entry_id"] for c in f.get("losing_factor", [])}
    units = sorted(f.get("by_unit", []), key=lambda u: (-abs(u["delta"]), u["unit"] or ""))
    module = ModuleType(v.module_type_id) if v.module_type_id else None  # None: reference data
    return {"v": v, "fig": v.figures, "units": units, "module": module,
            "det": DataEntryType(v.data_entry_type_id) if v.data_entry_type_id else None,
            "losing_ids": losing, "done": v.state == "FINISHED",
            # A reference file: its rows' counts and changes (its factors' are all zero).
            "ref": f.get("reference") if module is None else None,
            # A data entry file: the entries it loads without a matching factor (else None).
            "unmatched": new_without_factor(f) if v.figures else None,
            "can_apply": bool(v.figures) and not v.expired and v.applied_job_id is None}


@router.post("/previews/{preview_id}/apply", name="console_preview_apply")
async def apply(request: Request, posted: OperatorForm, preview_id: PreviewId) -> Response:
    return await run_in_threadpool(_apply, request, posted.user.name, preview_id)


def _apply(request: Request, by: str, preview_id: int) -> Response:
    """As ``POST /v1/sync/previews/{id}/apply``: the preview row stays locked from the check
    to the upload's acceptance, so two applies of one preview cannot both pass."""
    with session_scope() as s:
        try:
            plan = service.plan_apply(s, preview_id)
        except service.PreviewRefused as exc:
            return render(request, "_preview_refused.html", status_code=status_of(exc),
                          status=status_of(exc), text=str(exc), preview_id=preview_id)
        try:
            acc = accept_operation("preview apply", lambda: start_apply(plan, by))
        except HTTPException as exc:
            return message(request, str(exc.detail), exc.status_code)
        except ApiError as exc:
            return message(request, exc.detail, exc.status_code)
        service.mark_applied(s, preview_id, acc.job_id)
    return render(request, "_started.html", accepted=acc, card=f"preview-{preview_id}")


@router.post("/previews/{preview_id}/discard", name="console_preview_discard")
async def discard(request: Request, posted: OperatorForm, preview_id: PreviewId) -> Response:
    return await run_in_threadpool(_discard, request, preview_id)


def _discard(request: Request, preview_id: int) -> Response:
    with session_scope() as s:
        try:
            gone = service.discard_preview(s, preview_id)
        except service.PreviewRefused as exc:
            return message(request, f"Preview {preview_id}: {exc}.", status_of(exc))
    if gone.applied_job_id is not None:  # applied meanwhile (another tab, the API)
        job = gone.applied_job_id
        return message(request, f"Preview {preview_id} discarded. Its file was applied already"
                                f" ({_UPLOAD_WORDS.get(gone.kind, gone.kind.replace('-', ' '))}"
                                f" upload job {job}): discarding undoes nothing of it; revert"
                                f" job {job} to undo it.", 200, kind="warnbox")
    return message(request, f"Preview {preview_id} discarded: nothing of its file was "
                            "applied.", 200, kind="ok")


_UPLOAD_WORDS: dict[str, str] = {UploadKind.factors: "factor",
                                 UploadKind.data_entries: "data entry"}
