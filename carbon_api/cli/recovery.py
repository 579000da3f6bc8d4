"""``carbon recover PIPELINE_ID [--wait]``: a new pipeline re-running the data entry types a
failed, partial or aborted run left (``POST /v1/sync/pipelines/{id}/recover``)."""

from __future__ import annotations

from typing import Annotated

import typer

from carbon_api.cli.common import JsonFlag, error, new_typer
from carbon_api.cli.listings import _pipeline_id
from carbon_api.cli.workflow import _RECALC, TimeoutOpt, WaitOpt, _run

cli = new_typer()


@cli.command("recover")
def recover(pipeline: Annotated[str, typer.Argument(help="A pipeline id or its first characters.")],
            wait: WaitOpt = False, timeout: TimeoutOpt = 3600,
            as_json: JsonFlag = False) -> None:
    """Re-run what a FAILED, PARTIAL or ABORTED pipeline left, whatever the staleness says
    (exit 1 while it still runs or when it left nothing; with --wait, exit 2 if the new
    pipeline FAILED or was ABORTED)."""
    from carbon_domain.services.pipeline_recovery import CannotRecover, PipelineNotFound
    from carbon_tasks.operations import Accepted, recover_pipeline

    pid = str(_pipeline_id(pipeline))
    # workflow's runner: start, then follow (always in embedded mode) like every command
    # that starts work.

    def start() -> Accepted:
        try:
            return recover_pipeline(pid, "cli")
        except (PipelineNotFound, CannotRecover) as exc:
            error(str(exc))

    _run(start, wait, as_json, tasks=_RECALC, timeout=timeout)
