"""``carbon revert JOB_ID``: undo a factor or data entry upload through the same path as the
API (a new upload restoring the scope as it was just before it)."""

from __future__ import annotations

from typing import Annotated

import typer

from carbon_api.cli.common import JsonFlag, error, new_typer
from carbon_api.cli.workflow import TimeoutOpt, WaitOpt, run_operation
from carbon_domain import task_names as tn
from carbon_domain.upload_kinds import UploadKind, UploadMode

cli = new_typer()


@cli.command("revert")
def revert(job_id: Annotated[int, typer.Argument(min=1, help="The upload's job id.")],
           recalculate: Annotated[bool | None, typer.Option(
               "--recalculate/--no-recalculate",
               help="Recalculate after the revert (default: as the reverted upload).")] = None,
           wait: WaitOpt = False, timeout: TimeoutOpt = 3600, as_json: JsonFlag = False,
           preview: Annotated[bool, typer.Option(
               "--preview", help="Write nothing: print what the revert would do.")] = False,
           ) -> None:
    """Restore the factors (data entries, or reference data) of an upload's scope to what
    they were just before it, as a new upload (refused when a later upload of the same
    scope exists: revert it first)."""
    from carbon_api.cli.embedded import ensure_schema
    from carbon_api.routes.reverts import start_revert
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.ingest.reverts import RevertRefused, plan_revert

    ensure_schema()
    with session_scope() as s:
        try:
            plan = plan_revert(s, job_id)
        except RevertRefused as exc:
            error(str(exc))
    if preview:
        from carbon_api.cli.previews import run_preview
        from carbon_domain.settings import get_settings
        return run_preview(plan.content, filename=plan.filename, module=plan.module_type_id,
                           det=plan.data_entry_type_id, year=plan.year, mode=UploadMode.REPLACE,
                           as_json=as_json, timeout=timeout,
                           embedded=get_settings().embedded_broker, kind=plan.kind,
                           reverts_job_id=plan.job_id, clears=plan.clears)
    again = plan.recalculate if recalculate is None else recalculate
    task = tn.UPLOAD_TASKS[UploadKind(plan.kind)]
    run_operation(lambda: start_revert(plan, "cli", again), wait, as_json,
                  tasks=(task, *(tn.RECALCULATION_TASKS if again else ())), timeout=timeout)
