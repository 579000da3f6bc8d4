"""What a recalculation of a type would rewrite, said before it runs, by the planner itself.

The recalculation dialog and ``GET /v1/sync/recalculation-preview`` used to give a type's
full entry count as what "only stale types" would recalculate, while the planner rewrites
only the entries a factor change affects. This asks the planner
(:func:`services.recalc.affected.plan_scope`, the function ``recalc_plan.plan_job`` calls)
about a probe: a per-type recalculation requested now by an only-stale module recalculation
(no pipeline that asks for a full run), never added to the session. Its base is the same
last good recalculation the real job will start from (the probe's id is above every job's),
so the figure is the real run's as long as no input lands in between.

"All types", "Only the checked types" and a type's own Recalculate button ask for a full
run: every entry of the slice (``entry_count``), whatever the planner would pick.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from carbon_domain.db.enums import JobType
from carbon_domain.db.models import DataIngestionJob as Job

_PROBE_ID = 2**31 - 1  # above every job id: the planner's base is the last good run


@dataclass(frozen=True, slots=True)
class StaleScope:
    """What "only stale" would recalculate of a stale type."""

    entries: int  # entries the run would rewrite
    incremental: bool  # False: the whole slice
    reason: str  # the planner's words: "2 factors changed", "entries changed (job 41)", …


def only_stale_scope(session: Session, module: int, det: int, year: int,
                     entry_count: int) -> StaleScope:
    """The planner's scope for an only-stale recalculation of the type requested now;
    ``entry_count`` (the slice's entries) when it would rewrite them all."""
    # Imported here: the planner brings the engine, the handlers and the CSV schemas (~60
    # modules), which `carbon status` and every status read without a stale type never need
    # (tests/unit/test_cli_startup.py).
    from carbon_domain.services.recalc.affected import plan_scope  # noqa: PLC0415

    probe = Job(id=_PROBE_ID, job_type=JobType.emission_recalc, meta={}, pipeline_id=None,
                module_type_id=module, data_entry_type_id=det, year=year)
    scope = plan_scope(session, probe)
    if scope.entry_ids is None:
        return StaleScope(entry_count, False, scope.reason)
    return StaleScope(len(scope.entry_ids), True, scope.reason)
