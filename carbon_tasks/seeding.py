"""Load a generated seed through the operator's ingest path, one file at a time.

Every file goes through ``operations.start_upload`` (validation, stored upload, job rows,
dispatch) exactly as an API or CLI upload would, and the next file starts only when the
previous pipeline has ended: units must exist before data refers to them, factors before
the data entries whose recalculation reads them.

    >>> from carbon_domain.seed import generate
    >>> from carbon_tasks.seeding import load_seed
    >>> load_seed(generate(Path("/tmp/s"), units=20, entries=5000, year=2025))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from carbon_domain.db.enums import JobResult, JobState, PipelineStatus
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_domain.seed import SeedFile, SeedManifest
from carbon_domain.services.jobs.pipelines import as_pipeline_id
from carbon_domain.upload_kinds import YEARLESS_KINDS, UploadKind, UploadMode
from carbon_tasks.operations import start_upload
from carbon_tasks.waiting import PipelineProgress, wait_for_pipeline

# Per-file wait: a base for dispatch and aggregation plus time proportional to the rows.
BASE_TIMEOUT = 300.0
SECONDS_PER_ROW = 0.005
_YEARLESS = YEARLESS_KINDS


@dataclass(frozen=True, slots=True)
class LoadStep:
    """A progress report: file ``index`` (1-based) of ``count``; ``pipeline`` is None just
    before the upload starts."""

    file: SeedFile
    index: int
    count: int
    pipeline: PipelineProgress | None = None


@dataclass(frozen=True, slots=True)
class LoadedFile:
    file: SeedFile
    pipeline_id: str
    status: str
    seconds: float
    message: str | None
    #: Messages of the pipeline's jobs that ended WARNING (rows skipped, columns ignored, an
    #: entry failed): a SUCCESS with any is "SUCCESS with warnings" on every surface.
    warnings: tuple[str, ...] = ()


@dataclass
class SeedLoadResult:
    files: list[LoadedFile] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(f.status == PipelineStatus.SUCCESS for f in self.files)


class SeedLoadError(RuntimeError):
    """A file's pipeline failed outright; what was loaded before it stays."""

    def __init__(self, message: str, result: SeedLoadResult) -> None:
        super().__init__(message)
        self.result = result


def _recalculate(manifest: SeedManifest, f: SeedFile, recalculate: bool) -> bool:
    # A data entry upload recalculates its type right after, so its factor upload must
    # not (that would recalculate the previous data against the new factors for nothing).
    # A type without a data file in this seed recalculates existing data if asked.
    has_data = any(d.det == f.det for d in manifest.of_kind(UploadKind.data_entries))
    return recalculate and not has_data


def load_seed(manifest: SeedManifest, *, year: int | None = None, created_by: str = "seed",
              recalculate: bool = True, progress: Callable[[LoadStep], None] | None = None,
              timeout: float | None = None) -> SeedLoadResult:
    """Upload every file of ``manifest`` in order and wait for each pipeline.

    ``year`` defaults to the seed's year. A PARTIAL pipeline (data landed, a later step
    failed) is recorded and loading goes on; a FAILED or ABORTED one stops the load with
    SeedLoadError. Broker problems surface as ``operations.DispatchFailed``.
    """
    year = manifest.year if year is None else year
    result = SeedLoadResult()
    started = time.perf_counter()
    count = len(manifest.files)
    for index, f in enumerate(manifest.files, start=1):
        t0 = time.perf_counter()
        if progress is not None:
            progress(LoadStep(f, index, count))
        accepted = start_upload(
            f.kind, manifest.path_of(f).read_bytes(), filename=f.path, module=f.module,
            det=f.det, year=None if f.kind in _YEARLESS else year,
            recalculate=f.kind == UploadKind.factors and _recalculate(manifest, f, recalculate),
            # Rooms, stations and rates belong to no year: a seed adds its rows and retires
            # none (replace would retire the rooms another year's entries read).
            mode=UploadMode.MERGE if f.kind in _YEARLESS else UploadMode.REPLACE,
            created_by=created_by)
        assert accepted.pipeline_id is not None

        def report(p: PipelineProgress, f: SeedFile = f, index: int = index) -> None:
            if progress is not None:
                progress(LoadStep(f, index, count, p))

        final = wait_for_pipeline(accepted.pipeline_id,
                                  timeout or BASE_TIMEOUT + SECONDS_PER_ROW * f.rows, report)
        result.files.append(LoadedFile(f, final.pipeline_id, final.status,
                                       time.perf_counter() - t0,
                                       final.last_error or final.message,
                                       _warnings(final.pipeline_id)))
        result.seconds = time.perf_counter() - started
        if final.status in (PipelineStatus.FAILED, PipelineStatus.ABORTED):
            raise SeedLoadError(f"loading {f.path} ended {final.status}: "
                                f"{final.last_error or final.message or 'no message'}", result)
    return result


def _warnings(pipeline_id: str) -> tuple[str, ...]:
    """The status messages of the pipeline's jobs that ended WARNING, oldest first."""
    with session_scope() as s:
        return tuple(m or "WARNING" for m in s.scalars(
            select(Job.status_message).where(
                Job.pipeline_id == as_pipeline_id(pipeline_id),
                Job.state == JobState.FINISHED, Job.result == JobResult.WARNING)
            .order_by(Job.id)))
