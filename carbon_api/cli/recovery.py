"""``carbon recover PIPELINE_ID [--wait]``: a new pipeline re-running the data entry types a
failed, partial or aborted run left (``POST /v1/sync/pipelines/{id}/recover``)."""

from __future__ import annotations

from typing import Annotated

import typer

from carbon_api.cli.common import JsonFlag, error, new_typer
from carbon_api.cli.pipelines import resolve_pipeline_id
from carbon_api.cli.workflow import TimeoutOpt, WaitOpt, run_operation
from carbon_domain import task_names as tn

cli = new_typer()


@cli.command("recover")
def recover(pipeline: Annotated[str, typer.Argument(help="A pipeline id or its first characters.")],
            wait: WaitOpt = False, timeout: TimeoutOpt = 3600,
            as_json: JsonFlag = False) -> None:
    """Re-run what a FAILED, PARTIAL or ABORTED pipeline left, whatever the staleness says
    (exit 1 while it still runs or when it left nothing; with --wait, exit 2 if the new
    pipeline FAILED or was ABORTED)."""
    from carbon_domain.services.upkeep.pipeline_recovery import CannotRecover, PipelineNotFound
    from carbon_tasks.operations import Accepted, recover_pipeline

    pid = str(resolve_pipeline_id(pipeline))
    # Started and followed like every command that starts work (always in embedded mode).

    def start() -> Accepted:
        try:
            return recover_pipeline(pid, "cli")
        except (PipelineNotFound, CannotRecover) as exc:
            error(str(exc))

    run_operation(start, wait, as_json, tasks=tn.RECALCULATION_TASKS, timeout=timeout)
