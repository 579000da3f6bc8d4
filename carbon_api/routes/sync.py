"""Starting work (uploads and recalculation triggers) and the staleness status.

Every route that starts work answers 202 with ``{job_id, pipeline_id, state, message}``; the
job row is committed before dispatch, so a broker outage answers 503 with the saved job's id
and the reconciler dispatches it later.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from carbon_api.accepting import accept_operation
from carbon_api.deps import (
    UPLOAD_BODY,
    DetPath,
    DetQuery,
    FileUpload,
    ModulePath,
    Operator,
    Viewer,
    Year,
    check_det_in_module,
)
from carbon_api.errors import R400, READ, UPLOAD, WRITE
from carbon_api.routes.previews import PreviewAccepted, accept_preview
from carbon_api.schemas import Accepted, ModuleRecalculationStatus, RecalculationPreview
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.status import recalculation_preview, year_status
from carbon_domain.upload_kinds import ReferenceKind, UploadKind, UploadMode
from carbon_tasks import operations as ops

router = APIRouter(prefix="/sync", tags=["sync"])
AllowUnknownColumns = Annotated[bool, Query(
    description="Load a file even though a column looks like a misspelling of an expected "
                "one (refused with 400 by default); every unused column is listed in the "
                "job's message and meta, and the result is WARNING.")]


PreviewFlag = Annotated[bool, Query(
    description="Compute what the file would do, write nothing: the answer's `preview_id` "
                "is read at GET /v1/sync/previews/{id} and applied at POST …/apply.")]


@router.post("/units", status_code=202, response_model=Accepted, responses=UPLOAD,
             openapi_extra=UPLOAD_BODY)
def upload_units(who: Operator, upload: FileUpload, year: Year,
                 allow_unknown_columns: AllowUnknownColumns = False) -> Accepted:
    """CSV of units (`institutional_code, institutional_id, name, level,
    parent_institutional_code`); creates the units and their report with its 8 modules for
    `year`. A row is skipped with its reason (the job ends WARNING) when its level is not 1–4,
    or its parent is the unit itself, its own descendant, or neither a row of the file nor a
    stored unit (of any year)."""
    return accept_operation("units upload", lambda: ops.start_upload(
        UploadKind.units, upload.content, filename=upload.filename, year=year, created_by=who.name,
        content_type=upload.content_type, allow_unknown_columns=allow_unknown_columns))


@router.post("/reference/{kind}", status_code=202, response_model=PreviewAccepted,
             response_model_exclude_none=True, responses=UPLOAD, openapi_extra=UPLOAD_BODY)
def upload_reference(who: Operator, upload: FileUpload, kind: ReferenceKind,
                     mode: Annotated[UploadMode, Query(
                         description="`replace` (default): the file is the set of its kind; "
                                     "stored rows absent from it are retired (kept for "
                                     "history, never read again). `merge`: only insert and "
                                     "update (a partial file).")] = UploadMode.REPLACE,
                     allow_unknown_columns: AllowUnknownColumns = False,
                     preview: PreviewFlag = False) -> Accepted:
    """CSV of reference data: `stations` (`name, latitude, longitude, country_code`; a
    station is its (name, country)), `building-rooms` (`building_name, room_name, room_type,
    room_surface_square_meter`) or `exchange-rates` (`year, currency, rate_to_eur`). The
    types whose formulas read the kind become stale for the years it changes. With
    `preview=true`: what it would do to the types reading it, in every year it changes."""
    if preview:
        return accept_preview(who.name, kind.value, upload.content, filename=upload.filename,
                              mode=mode.value, content_type=upload.content_type,
                              allow_unknown_columns=allow_unknown_columns)
    return accept_operation(f"{kind.value} upload", lambda: ops.start_upload(
        kind.value, upload.content, filename=upload.filename, created_by=who.name,
        content_type=upload.content_type, mode=mode.value,
        allow_unknown_columns=allow_unknown_columns))


@router.post("/factors/{module_type_id}", status_code=202, response_model=PreviewAccepted,
             response_model_exclude_none=True, responses=UPLOAD, openapi_extra=UPLOAD_BODY)
def upload_factors(who: Operator, upload: FileUpload, module_type_id: ModulePath, year: Year,
                   data_entry_type_id: DetQuery = None,
                   recalculate: Annotated[bool, Query(
                       description="Recalculate the affected types once the factors landed "
                                   "(otherwise they are only marked stale).")] = False,
                   mode: Annotated[UploadMode, Query(
                       description="`replace` (default): the file is the factor set of each "
                                   "type it covers; factors absent from it are retired. "
                                   "`merge`: only insert and update (a partial file).")
                   ] = UploadMode.REPLACE,
                   allow_unknown_columns: AllowUnknownColumns = False,
                   preview: PreviewFlag = False) -> Accepted:
    """Factor CSV for a module (or one of its data entry types) and year. The file is the
    factor set of the route's type (or, module-wide, of every type with rows in it): its
    factors are upserted in place (ids stay stable), the others of those types are retired
    (`mode=merge` keeps them). The job's meta counts inserted / updated / unchanged / retired
    factors. With `recalculate=true` the affected types are recalculated and aggregated."""
    check_det_in_module(module_type_id, data_entry_type_id, "query")
    if preview:
        return accept_preview(
            who.name, UploadKind.factors, upload.content, filename=upload.filename,
            module=module_type_id.value,
            det=data_entry_type_id.value if data_entry_type_id else None, year=year,
            mode=mode.value, content_type=upload.content_type,
            allow_unknown_columns=allow_unknown_columns)
    return accept_operation("factors upload", lambda: ops.start_upload(
        UploadKind.factors, upload.content, filename=upload.filename, module=module_type_id.value,
        det=data_entry_type_id.value if data_entry_type_id else None, year=year,
        recalculate=recalculate, created_by=who.name, content_type=upload.content_type,
        mode=mode.value, allow_unknown_columns=allow_unknown_columns))


@router.post("/data-entries/{module_type_id}", status_code=202,
             response_model=PreviewAccepted, response_model_exclude_none=True,
             responses=UPLOAD, openapi_extra=UPLOAD_BODY)
def upload_data_entries(who: Operator, upload: FileUpload, module_type_id: ModulePath,
                        year: Year, data_entry_type_id: DetQuery = None,
                        allow_unknown_columns: AllowUnknownColumns = False,
                        preview: PreviewFlag = False) -> Accepted:
    """Data entry CSV with a `unit_institutional_id` column: replaces that year's CSV entries
    of the type(s), then recalculates and aggregates. Rows with problems are skipped and
    reported in the job (`meta.row_errors`, result WARNING). With `preview=true`: what the
    replacement would do, per unit and type (entries get new ids, so the largest changes
    are per unit and type)."""
    check_det_in_module(module_type_id, data_entry_type_id, "query")
    if preview:
        return accept_preview(
            who.name, UploadKind.data_entries, upload.content, filename=upload.filename,
            module=module_type_id.value,
            det=data_entry_type_id.value if data_entry_type_id else None, year=year,
            content_type=upload.content_type, allow_unknown_columns=allow_unknown_columns)
    return accept_operation("data-entries upload", lambda: ops.start_upload(
        UploadKind.data_entries, upload.content, filename=upload.filename,
        module=module_type_id.value,
        det=data_entry_type_id.value if data_entry_type_id else None, year=year,
        created_by=who.name, content_type=upload.content_type,
        allow_unknown_columns=allow_unknown_columns))


NOTHING_IN_THE_YEAR = {
    **R400, "description": "The year has nothing to recalculate (no entries, no statistics)",
    "content": {"application/json": {"example": {
        "detail": "Nothing to recalculate for 2026: no factors and no entries for 2026; "
                  "upload factors for 2026, then data entries"}}}}


@router.post("/recalculate-emissions/{module_type_id}/{data_entry_type_id}", status_code=202,
             response_model=Accepted, responses={**WRITE, 400: NOTHING_IN_THE_YEAR})
def recalculate_type(who: Operator, module_type_id: ModulePath, data_entry_type_id: DetPath,
                     year: Year) -> Accepted:
    """Recalculate one data entry type for a year, then aggregate. While one is active for
    the same (module, type, year), answers 202 with the active job instead."""
    check_det_in_module(module_type_id, data_entry_type_id, "path")
    return accept_operation("recalculation", lambda: ops.trigger_recalculation(
        module=module_type_id.value, det=data_entry_type_id.value, year=year,
        created_by=who.name))


@router.post("/recalculate-emissions/{module_type_id}", status_code=202,
             response_model=Accepted, responses={**WRITE, 400: {
                 **R400, "description": "`only_stale=true` and no type of the module is "
                                        "stale, or the year has nothing to recalculate",
                 "content": {"application/json": {"example": {
                     "detail": "No data entry types require recalculation for this module"}}}}})
def recalculate_module(who: Operator, module_type_id: ModulePath, year: Year,
                       only_stale: Annotated[bool, Query(
                           description="Only the stale types (default) or all of them.")] = True,
                       ) -> Accepted:
    """Recalculate a module's stale data entry types (or all of them) in one pipeline; the
    returned job is the module-level job whose `children` are the per-type jobs."""
    return accept_operation("module recalculation", lambda: ops.trigger_module_recalculation(
        module=module_type_id.value, year=year, only_stale=only_stale, created_by=who.name))


@router.get("/recalculation-status", response_model=list[ModuleRecalculationStatus],
            responses=READ)
def status(_: Viewer, year: Year) -> list[dict[str, Any]]:
    """Per module and per data entry type, the one display `state` every surface shows
    (`up_to_date`, `needs_recalculation` with its `reasons`, `recalculating` with its
    `progress`, `failed` with `failed_run` and `action` "Retry", `incomplete`), and: per
    module with input data for `year`: `needs_recalculation` (any of its types), its
    totals (`totals_kg`, `totals_t`), `computed_at` and `aggregation_in_progress`; per data
    entry type: `needs_recalculation` with its `stale_reason`, `recalculation_in_progress`
    (with the active job and pipeline), the last input job and the last recalculation,
    `entry_count`, `entries_without_factor` and `incomplete` with its reasons."""
    with session_scope() as s:
        return [asdict(m) for m in year_status(s, year)]


@router.get("/recalculation-preview/{module_type_id}", response_model=RecalculationPreview,
            responses=READ)
def preview(_: Viewer, module_type_id: ModulePath, year: Year) -> dict[str, Any]:
    """What recalculating the module would do, per data entry type, before anything runs:
    whether it is stale (and why) and how many entries it would recalculate."""
    with session_scope() as s:
        types = recalculation_preview(s, module_type_id.value, year)
    return {"module_type_id": module_type_id.value, "year": year,
            "data_entry_types": [asdict(t) for t in types]}
