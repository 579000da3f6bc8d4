"""What operators do, as plain functions: the API routes, the CLI and a Python shell all
call these. Each commits its job rows first, then dispatches (transactional outbox).

    >>> from carbon_tasks.operations import trigger_recalculation
    >>> trigger_recalculation(module=2, det=20, year=2025, created_by="me")
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from carbon_domain.catalog import (
    MODULE_DATA_ENTRY_TYPES,
    DataEntryType,
    ModuleType,
    check_module_type,
    types_phrase,
)
from carbon_domain.db.enums import IngestionMethod, JobState, JobType, TargetType
from carbon_domain.db.locks import retry_conflicts
from carbon_domain.db.session import session_scope
from carbon_domain.errors import Conflict, InvalidInput, Unavailable, Unusable
from carbon_domain.services.jobs import facility_followers, job_links, jobs, pipelines
from carbon_domain.services.reads.year_data import year_data
from carbon_domain.upload_kinds import MODULE_KINDS, YEARLESS_KINDS, UploadKind, UploadMode
from carbon_tasks.app import app
from carbon_tasks.dispatch import BrokerUnavailable, dispatch_jobs


class NothingToRecalculate(Unusable):
    """The year (or module) has nothing a recalculation would change."""


class YearNotProvisioned(Conflict):
    """Data for a year whose units/reports have not been synced yet."""


class DispatchFailed(Unavailable, RuntimeError):
    """The job rows are committed but the broker could not be reached."""

    def __init__(self, accepted: Accepted, reason: str) -> None:
        super().__init__(reason)
        self.accepted = accepted


@dataclass(frozen=True)
class Accepted:
    job_id: int
    pipeline_id: str  # every operation opens or joins a pipeline
    state: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_UPLOAD_JOBS = {
    UploadKind.factors: (JobType.factor_ingest, TargetType.FACTORS),
    UploadKind.data_entries: (JobType.csv_ingest, TargetType.DATA_ENTRIES),
    UploadKind.units: (JobType.unit_sync, TargetType.REFERENCE_DATA),
    UploadKind.stations: (JobType.reference_ingest, TargetType.REFERENCE_DATA),
    UploadKind.building_rooms: (JobType.reference_ingest, TargetType.REFERENCE_DATA),
    UploadKind.exchange_rates: (JobType.reference_ingest, TargetType.REFERENCE_DATA),
}


def _dispatch(accepted: Accepted, job_ids: list[int]) -> Accepted:
    try:
        dispatch_jobs(job_ids)
    except BrokerUnavailable as exc:
        raise DispatchFailed(accepted, str(exc)) from exc
    if accepted.state == JobState.NOT_STARTED:
        # The message is on the broker now; a worker may even have claimed it already.
        return replace(accepted, state=JobState.QUEUED.value)
    return accepted


def _check_year_provisioned(year: int) -> None:
    # Here, not at the top: the uploads need the listings' queries module (and through it the
    # console's pipeline views and the stats rollup, ~8 ms of CPU), `carbon recalc` does not.
    from carbon_domain.services.reads import queries  # noqa: PLC0415

    with session_scope() as s:
        if not queries.year_provisioned(s, year):
            raise YearNotProvisioned(
                f"no carbon reports exist for {year} yet: upload the units for {year} first"
                " (POST /v1/sync/units?year=…, or `carbon ingest units FILE --year …`)")


def _check_something_to_recalculate(year: int) -> None:
    """A year without entries (and no numbers left to clear) would run a pipeline over zero
    entries that ends green: refuse it with the reason instead."""
    with session_scope() as s:
        found = year_data(s, year)
    if found.empty_reason is not None:
        then = f"; {found.next_step}" if found.next_step else ""
        raise NothingToRecalculate(
            f"Nothing to recalculate for {year}: {found.empty_reason}{then}")


def start_upload(kind: str, content: bytes, *, filename: str = "upload.csv",
                 module: int | None = None, det: int | None = None, year: int | None = None,
                 recalculate: bool = False, created_by: str | None = None,
                 content_type: str | None = None, mode: str = UploadMode.REPLACE,
                 allow_unknown_columns: bool = False, clears: Sequence[int] = (),
                 reverts_job_id: int | None = None) -> Accepted:
    """Validate a CSV (a refusal such as CsvProblem or InvalidInput: nothing written), store
    it, create its pipeline and job, then dispatch. Factors: ``mode="replace"`` (the file is
    the factor set of its types: absent factors are retired) or ``"merge"`` (additive
    partial file).
    A column that looks misspelt refuses the file unless ``allow_unknown_columns``.
    ``clears``: a header-only data entry file that empties these types (the revert of a
    scope's first upload, services/ingest/reverts.py); no other caller passes it.
    ``reverts_job_id``: the upload a revert's upload undoes (recorded on its job)."""
    # Imported where used (here and in the module recalculation, abort and recovery below):
    # the CSV schemas, the status reads and the handlers behind them are not needed to
    # trigger one type's recalculation, whose `carbon recalc --wait` waits for every import.
    from carbon_domain.services.inputs.uploads import store_upload  # noqa: PLC0415
    from carbon_domain.services.inputs.validation import validate_upload  # noqa: PLC0415

    job_type, target = _UPLOAD_JOBS[UploadKind(kind)]
    if (kind == UploadKind.factors or kind in YEARLESS_KINDS) and mode not in set(UploadMode):
        raise InvalidInput(f"unknown {kind} upload mode {mode!r}; use one of"
                           f" {', '.join(UploadMode)}", field="mode", value=mode)
    # What the ingest of each kind needs, refused here rather than failing the job: factors
    # and entries belong to a module and a year, units to a year (their reports).
    if kind in MODULE_KINDS and module is None:
        raise InvalidInput(f"a {kind} upload needs its module", field="module_type_id")
    if (kind in MODULE_KINDS or kind == UploadKind.units) and year is None:
        raise InvalidInput(f"a {kind} upload needs its year", field="year")
    m = ModuleType(module) if module is not None else None
    d = DataEntryType(det) if det is not None else None
    if m is not None:
        check_module_type(m, d)
    validate_upload(kind, content, m, d, allow_unknown_columns=allow_unknown_columns,
                    header_only=bool(clears))
    if kind == UploadKind.data_entries and year is not None:
        _check_year_provisioned(year)
    config: dict[str, Any] = {"filename": filename}
    if allow_unknown_columns:
        config["allow_unknown_columns"] = True
    if clears:
        config["clears"] = sorted(int(c) for c in clears)
    if reverts_job_id is not None:
        config["reverts_job_id"] = int(reverts_job_id)
    if kind == UploadKind.factors:
        config["recalculate"] = recalculate
        config["mode"] = mode
    if target == TargetType.REFERENCE_DATA and kind != UploadKind.units:
        config["kind"] = kind
        config["mode"] = mode  # like factors: replace retires what the file omits
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=job_type, module_type_id=module, year=year,
                                 created_by=created_by)
        upload_id = store_upload(s, filename=filename, content=content,
                                 content_type=content_type, created_by=created_by)
        job = jobs.create_job(
            s, pipeline_id=p.id, job_type=job_type, target_type=target,
            ingestion_method=IngestionMethod.csv, module_type_id=module, data_entry_type_id=det,
            year=year, created_by=created_by, upload_id=upload_id, config=config)
        accepted = Accepted(job.id, str(p.id), job.state,
                            f"{kind} upload accepted ({len(content)} bytes); job {job.id} queued")
    return _dispatch(accepted, [accepted.job_id])


def trigger_recalculation(*, module: int, det: int, year: int, created_by: str | None
                          ) -> Accepted:
    """Recalculate one (module, type, year). A duplicate returns the active job."""
    m, d = ModuleType(module), DataEntryType(det)
    check_module_type(m, d)
    _check_something_to_recalculate(year)
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.emission_recalc, module_type_id=module,
                                 year=year, created_by=created_by)
        req = jobs.request_recalc(s, pipeline_id=p.id, module_type_id=module,
                                  data_entry_type_id=det, year=year, created_by=created_by)
        if not req.created:  # the partial unique index found the active job
            s.delete(p)
            return Accepted(req.job_id, str(req.pipeline_id), req.state,
                            f"A recalculation of {d.name} for {year} is already in progress"
                            f" (job {req.job_id})")
        followers = [r.job_id for r in facility_followers.request_followers(
            s, pipeline_id=p.id, dets=[det], year=year, created_by=created_by) if r.created]
        accepted = Accepted(req.job_id, str(p.id), req.state,
                            f"Recalculation of {d.name} for {year} queued (job {req.job_id})")
    return _dispatch(accepted, [accepted.job_id, *followers])


def trigger_module_recalculation(*, module: int, year: int, only_stale: bool = True,
                                 created_by: str | None, dets: list[int] | None = None
                                 ) -> Accepted:
    """Recalculate a module's stale types (or all of them, or the chosen ``dets``) in one
    pipeline."""
    m = ModuleType(module)
    _check_something_to_recalculate(year)
    if dets is not None:
        for d in dets:
            check_module_type(m, DataEntryType(d))
        dets = sorted(set(dets))
        only_stale = False
    else:
        from carbon_domain.services.reads.status import stale_and_retry_types  # noqa: PLC0415
        with session_scope() as s:
            dets, retry = stale_and_retry_types(s, module, year) if only_stale else (
                [d.value for d in MODULE_DATA_ENTRY_TYPES[m]], [])
    if not dets:
        # The status shows those types as failed with a Retry: say how to retry them here.
        names = ", ".join(repr(DataEntryType(d).name) for d in retry)
        hint = (f"; the last run of {names} failed or was aborted before rewriting any"
                f" number: recalculate {'that type' if len(retry) == 1 else 'those types'},"
                " or all types of the module" if retry else "")
        raise NothingToRecalculate(
            "No data entry types require recalculation for this module" + hint)
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.module_emission_recalc, module_type_id=module,
                                 year=year, created_by=created_by)
        root = jobs.create_job(
            s, pipeline_id=p.id, job_type=JobType.module_emission_recalc,
            target_type=TargetType.DATA_ENTRIES, ingestion_method=IngestionMethod.computed,
            module_type_id=module, year=year, created_by=created_by,
            config={"only_stale": only_stale, "data_entry_type_ids": dets})
        reqs = [jobs.request_recalc(s, pipeline_id=p.id, module_type_id=module,
                                    data_entry_type_id=d, year=year, created_by=created_by)
                for d in dets]
        created = [r.job_id for r in reqs if r.created]
        if not created:
            s.delete(root)
            s.delete(p)
            first = reqs[0]
            return Accepted(first.job_id, str(first.pipeline_id), first.state,
                            f"Recalculation of {m.name} for {year} is already in progress")
        # Types another trigger is already recalculating are joined: the module job waits
        # for them too (closed when every type it asked for is done).
        joined = [r.job_id for r in reqs if not r.created]
        job_links.link_module_job(s, root.id, started=created, joined=joined)
        # In the pipeline, not under the module job: a module job closes when its own
        # module's recalculations finish (recalc_finish.close_module_jobs), never a facility's.
        created += [r.job_id for r in facility_followers.request_followers(
            s, pipeline_id=p.id, dets=dets, year=year, created_by=created_by) if r.created]
        names = ", ".join(DataEntryType(d).name for d in dets)
        accepted = Accepted(root.id, str(p.id), root.state,
                            f"Recalculation of {types_phrase(len(dets))} of {m.name} for"
                            f" {year} queued ({names})")
    return _dispatch(accepted, created + [accepted.job_id])


def abort_pipeline(pipeline_id: str, by: str | None) -> dict[str, Any]:
    """Finish every active job as ERROR (aborted) and revoke the outstanding tasks."""
    from carbon_domain.services.recalc.recalc_finish import after_abort  # noqa: PLC0415

    pid = uuid.UUID(str(pipeline_id))

    def abort() -> tuple[list[int], list[str]]:
        with session_scope() as s:
            return pipelines.abort_pipeline(s, pid, by)

    def follow_up() -> list[int]:
        with session_scope() as s:
            return after_abort(s, job_ids)

    # Lock waits are short (a chunk holds its job row only between its fence and its
    # commit); a deadlock or serialization failure is retried here, never answered as 503.
    job_ids, task_ids = retry_conflicts(abort)
    try:
        dispatch_jobs(retry_conflicts(follow_up))
    except Exception:  # noqa: BLE001 - the abort stands; the reconciler does the rest
        logging.getLogger("carbon.operations").warning(
            "abort of %s: follow-up left to the reconciler", pid, exc_info=True)
    if task_ids:
        try:
            app.control.revoke(task_ids)
        except Exception:  # noqa: BLE001 - revocation is best effort; chunks check state
            pass
    return {"pipeline_id": str(pid), "aborted_job_ids": job_ids, "revoked_tasks": len(task_ids),
            "aborted_by": by}


def recover_pipeline(pipeline_id: str, created_by: str | None) -> Accepted:
    """A new pipeline re-running the types a failed, partial or aborted run left, whatever
    the staleness says. PipelineNotFound (404) / CannotRecover (409: still running, or
    nothing left)."""
    from carbon_domain.services.upkeep import pipeline_recovery  # noqa: PLC0415

    with session_scope() as s:
        plan = pipeline_recovery.plan_recovery(s, pipeline_id)
    acc = trigger_module_recalculation(module=plan.module_type_id, year=plan.year,
                                       dets=plan.data_entry_type_ids, created_by=created_by)
    return replace(acc, message=f"Re-running what pipeline {str(plan.pipeline_id)[:8]} "
                                f"({plan.status}) left: {acc.message}")
