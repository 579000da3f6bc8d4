"""Impact previews of factor uploads: starting one (the API, console and CLI call
:func:`start_factor_preview`) and the task that computes it (queue ``recalc``), through the
same job runner as every ingest."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from carbon_domain import task_names as tn
from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.db.enums import IngestionMethod, JobState, JobType, TargetType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_domain.errors import InvalidInput
from carbon_domain.services.inputs.uploads import store_upload
from carbon_domain.services.inputs.validation import check_module_type, validate_upload
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.services.jobs.job_runs import JobOutcome
from carbon_domain.services.preview.previews import compute_preview, create_preview
from carbon_domain.upload_kinds import UploadKind, UploadMode
from carbon_tasks.app import app
from carbon_tasks.base import JobTask
from carbon_tasks.dispatch import BrokerUnavailable, dispatch_jobs
from carbon_tasks.operations import Accepted, DispatchFailed


class PreviewWork:
    """A preview job: ``compute_preview`` writes only the preview's figures."""

    def prepare(self, session: Session, job_id: int) -> None:
        jobs.heartbeat(session, job_id, message="Computing the impact preview")

    def work(self, session: Session, job: Job) -> JobOutcome:
        return compute_preview(session, job)

    def again(self, session: Session, job: Job) -> bool:
        return False

    def follow_ups(self, session: Session, job: Job, outcome: JobOutcome) -> list[int]:
        return []  # a preview starts nothing; applying it is a new upload


@app.task(base=JobTask, bind=True, name=tn.PREVIEW_FACTORS)
def preview_factors(self: JobTask, job_id: int) -> dict[str, Any]:
    """Compute what a factor file would do, writing nothing but the preview's figures."""
    return self.run_job(job_id, PreviewWork())


def start_factor_preview(content: bytes, *, filename: str, module: int, det: int | None,
                         year: int, created_by: str | None, content_type: str | None = None,
                         mode: str = UploadMode.REPLACE) -> tuple[Accepted, int]:
    """Validate the file as the upload would (the same refusals), store it,
    create the preview job and its preview row, dispatch. Returns (accepted, preview id)."""
    if mode not in set(UploadMode):
        raise InvalidInput(f"unknown factor upload mode {mode!r}; use one of"
                           f" {', '.join(UploadMode)}", field="mode", value=mode)
    m, d = ModuleType(module), DataEntryType(det) if det is not None else None
    check_module_type(m, d)
    validate_upload(UploadKind.factors, content, m, d)
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=JobType.factor_preview, module_type_id=module,
                                      year=year, created_by=created_by)
        upload_id = store_upload(s, filename=filename, content=content,
                                 content_type=content_type, created_by=created_by)
        job = jobs.create_job(
            s, pipeline_id=p.id, job_type=JobType.factor_preview, target_type=TargetType.FACTORS,
            ingestion_method=IngestionMethod.csv, module_type_id=module, data_entry_type_id=det,
            year=year, created_by=created_by, upload_id=upload_id,
            config={"filename": filename, "mode": mode, "recalculate": True})
        preview_id = create_preview(s, job, mode=mode)
        accepted = Accepted(job.id, str(p.id), job.state,
                            f"factors preview accepted ({len(content)} bytes); job {job.id}"
                            f" computes preview {preview_id}")
    try:
        dispatch_jobs([accepted.job_id])
    except BrokerUnavailable as exc:
        raise DispatchFailed(accepted, str(exc)) from exc
    return Accepted(accepted.job_id, accepted.pipeline_id, JobState.QUEUED.value,
                    accepted.message), preview_id
