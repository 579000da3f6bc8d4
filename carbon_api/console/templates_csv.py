"""Header-only template CSVs for every upload card, generated from the ingest's own schemas
(``carbon_domain.csv_rows.template_columns``): a file filled in from the template passes the
upload's header check by construction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from carbon_api.console.web import PREFIX, User, message
from carbon_api.deps import DetQuery, ModuleQuery
from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.csv_rows.reference_rows import REFERENCE_MODELS
from carbon_domain.csv_rows.template_columns import ROW_KINDS, template_csv, upload_columns

router = APIRouter(prefix=PREFIX + "/templates", include_in_schema=False)
KINDS = (*ROW_KINDS, *REFERENCE_MODELS)


def template_name(kind: str, module: int | None, det: int | None) -> str:
    parts = [kind.replace("-", "_")]
    if module is not None:
        parts.append(ModuleType(module).name)
    if det is not None:
        parts.append(DataEntryType(det).name)
    return "template_" + "_".join(parts) + ".csv"


@router.get("/{kind}.csv", name="upload_template")
def upload_template(request: Request, user: User,
                    kind: Annotated[str, Path(max_length=20)],
                    module: ModuleQuery = None, det: DetQuery = None) -> Response:
    if kind not in KINDS:
        return message(request, f"No template for {kind[:20]!r}; one of {', '.join(KINDS)}",
                       404)
    if kind in REFERENCE_MODELS:
        module = det = None
    try:
        columns = upload_columns(kind, module, det)
    except ValueError as exc:
        return message(request, str(exc), 422)
    return Response(template_csv(columns), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{template_name(kind, module, det)}"'})
