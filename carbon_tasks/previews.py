"""Impact previews of uploads: starting one (the API, console and CLI call
:func:`start_preview`) and the tasks that compute it (queue ``recalc``).

The preview task runs the ingest in a savepoint (services/preview/previews.py). A slice
larger than one recalculation chunk is measured like a recalculation: a chord of
``carbon.preview_chunk`` (one id range each, on every worker) whose body
``carbon.preview_fold`` adds the partial figures up, stores them and finishes the job; a
chunk that fails for good finishes it as ERROR (``carbon.preview_failed``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from celery import chord
from sqlalchemy.orm import Session

from carbon_domain import task_names as tn
from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.db.enums import IngestionMethod, JobResult, JobState, JobType, TargetType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_domain.errors import InvalidInput
from carbon_domain.services.inputs.uploads import store_upload
from carbon_domain.services.inputs.validation import check_module_type, validate_upload
from carbon_domain.services.jobs import job_runs, jobs, pipelines
from carbon_domain.services.jobs.job_runs import JobOutcome
from carbon_domain.services.preview import preview_chunks
from carbon_domain.services.preview import preview_scope as scope
from carbon_domain.services.preview.previews import FanOut, compute_preview, create_preview
from carbon_domain.services.reads import queries
from carbon_domain.settings import get_settings
from carbon_domain.upload_kinds import UploadKind, UploadMode
from carbon_tasks.app import app
from carbon_tasks.base import CarbonTask, JobTask
from carbon_tasks.dispatch import BrokerUnavailable, dispatch_jobs
from carbon_tasks.operations import Accepted, DispatchFailed, YearNotProvisioned

_log = logging.getLogger("carbon.previews")
_TARGET = {scope.FACTORS: TargetType.FACTORS, scope.ENTRIES: TargetType.DATA_ENTRIES}


def _fan_out_at() -> int:
    """Past four recalculation chunks of entries to compute, the preview is measured in
    chunks across the workers (fewer: the dispatch would cost more than it saves)."""
    return 4 * get_settings().chunk_size


@app.task(base=JobTask, bind=True, name=tn.PREVIEW_FACTORS)
def preview_factors(self: JobTask, job_id: int) -> dict[str, Any]:
    """Compute what an upload would do, writing nothing but the preview's figures (every
    upload kind; the task keeps its first name so queued messages still run)."""
    with session_scope() as s:
        attempt = jobs.claim(s, job_id, self.request.id)
    if attempt is None:
        return {"job_id": job_id, "skipped": True}
    with session_scope() as s:
        jobs.heartbeat(s, job_id, message="Computing the impact preview")
    try:
        with session_scope() as s:
            job = s.get(Job, job_id)
            assert job is not None
            chunked = (job.meta or {}).get("config", {}).get("chunked", True)
            done = compute_preview(s, job, fan_out_at=_fan_out_at() if chunked else None)
            job_runs.lock_and_fence(s, job_id, attempt)
            if isinstance(done, FanOut):
                jobs.heartbeat(s, job_id, done=0, total=done.entries, message=(
                    f"Computing the impact preview: {len(done.chunks)} chunks of "
                    f"{done.entries} entries"))
            else:
                _finish(s, job, attempt, done)
    except jobs.AttemptSuperseded as exc:
        _log.warning("%s; its writes were rolled back", exc)
        return {"job_id": job_id, "skipped": True, "superseded": True}
    if not isinstance(done, FanOut):
        return {"job_id": job_id, "result": done.result}
    header = [app.signature(CHUNK, kwargs={"job_id": job_id, "attempt": attempt,
                                           "chunk": c, "inputs": done.inputs},
                            immutable=True).set(task_id=str(uuid.uuid4()), queue=tn.RECALC)
              for c in done.chunks]
    body = app.signature(FOLD, kwargs={"job_id": job_id, "attempt": attempt,
                                       "base": done.base}).set(queue=tn.FINISH)
    body.link_error(app.signature(FAILED, kwargs={"job_id": job_id, "attempt": attempt})
                    .set(queue=tn.FINISH))
    chord(header, body).apply_async()
    return {"job_id": job_id, "chunks": len(header)}


def _finish(s: Session, job: Job, attempt: int, outcome: JobOutcome) -> None:
    job_runs.finish(s, job, attempt, outcome)
    pipelines.recompute_related(s, {job.id})


CHUNK, FOLD, FAILED = tn.PREVIEW_CHUNK, tn.PREVIEW_FOLD, tn.PREVIEW_FAILED


class _ChunkTask(CarbonTask):
    abstract = True
    finishes_job_on_failure = False  # the chord's errback finishes the job


@app.task(base=_ChunkTask, bind=True, name=CHUNK, queue=tn.RECALC)
def preview_chunk(self: Any, *, job_id: int, attempt: int, chunk: dict[str, Any],
                  inputs: dict[str, Any]) -> dict[str, Any] | None:
    """One id range of a preview: its partial figures (read-only)."""
    with session_scope() as s:
        return preview_chunks.measure_chunk(s, job_id, attempt, chunk, inputs)


@app.task(base=CarbonTask, bind=True, name=FOLD, queue=tn.FINISH)
def preview_fold(self: Any, partials: list[dict[str, Any] | None], *, job_id: int,
                 attempt: int, base: dict[str, Any]) -> dict[str, Any]:
    """The chord body: add the chunks' partials up, store the figures, finish the job."""
    try:
        with session_scope() as s:
            outcome = preview_chunks.fold_chunks(s, job_id, partials, base)
            if outcome is None:
                return {"job_id": job_id, "skipped": True}
            job = s.get(Job, job_id)
            assert job is not None
            job_runs.lock_and_fence(s, job_id, attempt)
            _finish(s, job, attempt, outcome)
    except jobs.AttemptSuperseded as exc:
        _log.warning("%s; its figures were not kept", exc)
        return {"job_id": job_id, "skipped": True, "superseded": True}
    return {"job_id": job_id, "result": outcome.result}


@app.task(base=CarbonTask, bind=True, name=FAILED, queue=tn.FINISH)
def preview_failed(self: Any, request: Any = None, exc: Any = None, traceback: Any = None,
                   *, job_id: int, attempt: int) -> None:
    """Chord errback: a chunk failed for good; the preview job ends as ERROR."""
    _log.error("preview chunks of job %s failed: %s", job_id, exc)
    with session_scope() as s:
        pipelines.lock_related(s, {job_id})
        if jobs.finish(s, job_id, attempt, JobResult.ERROR,
                       f"ERROR: a chunk of the preview failed: {exc}"[:500]):
            pipelines.recompute_related(s, {job_id})


def start_preview(kind: str, content: bytes, *, filename: str, module: int | None = None,
                  det: int | None = None, year: int | None = None,
                  created_by: str | None, content_type: str | None = None,
                  mode: str = UploadMode.REPLACE, allow_unknown_columns: bool = False,
                  reverts_job_id: int | None = None, chunked: bool = True,
                  clears: Sequence[int] = ()) -> tuple[Accepted, int]:
    """Validate the file as its upload would (the same refusals: InvalidInput, CsvProblem,
    YearNotProvisioned), store it, create the preview job and its preview row, dispatch.
    Returns (accepted, preview id). ``chunked=False`` measures a large preview in the
    preview job alone (the bench's A/B)."""
    if kind not in scope.PREVIEW_KINDS:
        raise InvalidInput(f"a {kind} upload cannot be previewed; previews exist for "
                           f"{', '.join(scope.PREVIEW_KINDS)}", field="kind", value=kind)
    reference = scope.is_reference(kind)
    if mode not in set(UploadMode):
        raise InvalidInput(f"unknown {kind} upload mode {mode!r}; use one of"
                           f" {', '.join(UploadMode)}", field="mode", value=mode)
    m = d = None
    if not reference:
        assert module is not None and year is not None  # the routes and CLI pass them
        m, d = ModuleType(module), DataEntryType(det) if det is not None else None
        check_module_type(m, d)
    validate_upload(kind, content, m, d, allow_unknown_columns=allow_unknown_columns,
                    header_only=bool(clears))
    if kind == UploadKind.data_entries:
        _check_year(year)
    config: dict[str, Any] = {"filename": filename, "mode": mode, "kind": kind,
                              "recalculate": kind == scope.FACTORS}
    if allow_unknown_columns:
        config["allow_unknown_columns"] = True
    if reverts_job_id is not None:
        config["reverts_job_id"] = reverts_job_id
    if clears:  # the revert of a first upload: its ingest, run for the figures, empties them
        config["clears"] = sorted(int(c) for c in clears)
    if not chunked:
        config["chunked"] = False
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.factor_preview, module_type_id=module,
                                      year=year, created_by=created_by)
        upload_id = store_upload(s, filename=filename, content=content,
                                 content_type=content_type, created_by=created_by)
        job = jobs.create_job(
            s, pipeline_id=p.id, job_type=JobType.factor_preview,
            target_type=_TARGET.get(kind, TargetType.REFERENCE_DATA),
            ingestion_method=IngestionMethod.csv, module_type_id=module, data_entry_type_id=det,
            year=year, created_by=created_by, upload_id=upload_id, config=config)
        preview_id = create_preview(s, job, mode=mode)
        accepted = Accepted(job.id, str(p.id), job.state,
                            f"{kind} preview accepted ({len(content)} bytes); job {job.id}"
                            f" computes preview {preview_id}")
    try:
        dispatch_jobs([accepted.job_id])
    except BrokerUnavailable as exc:
        raise DispatchFailed(accepted, str(exc)) from exc
    return Accepted(accepted.job_id, accepted.pipeline_id, JobState.QUEUED.value,
                    accepted.message), preview_id


def _check_year(year: int | None) -> None:
    assert year is not None
    with session_scope() as s:
        if not queries.year_provisioned(s, year):
            raise YearNotProvisioned(
                f"no carbon reports exist for {year} yet: upload the units for {year} first"
                " (POST /v1/sync/units?year=…, or `carbon ingest units FILE --year …`)")


def start_factor_preview(content: bytes, *, filename: str, module: int, det: int | None,
                         year: int, created_by: str | None, content_type: str | None = None,
                         mode: str = UploadMode.REPLACE, allow_unknown_columns: bool = False,
                         chunked: bool = True) -> tuple[Accepted, int]:
    """:func:`start_preview` of a factor file."""
    return start_preview(scope.FACTORS, content, filename=filename, module=module, det=det,
                         year=year, created_by=created_by, content_type=content_type,
                         mode=mode, allow_unknown_columns=allow_unknown_columns,
                         chunked=chunked)
