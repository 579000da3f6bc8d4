"""Job vocabulary, stored as readable strings (Flower, logs and SQL all show the name)."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    NOT_STARTED = "NOT_STARTED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"


ACTIVE_STATES = (JobState.NOT_STARTED, JobState.QUEUED, JobState.RUNNING)


class JobResult(StrEnum):
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    ERROR = "ERROR"


class JobType(StrEnum):
    factor_ingest = "factor_ingest"
    csv_ingest = "csv_ingest"
    reference_ingest = "reference_ingest"
    unit_sync = "unit_sync"
    emission_recalc = "emission_recalc"
    module_emission_recalc = "module_emission_recalc"
    aggregation = "aggregation"
    factor_preview = "factor_preview"  # computes an upload's impact, writes only its figures


class JobLinkKind(StrEnum):
    """How a module-level recalculation relates to one of its per-type jobs."""

    started = "started"  # created by this trigger
    joined = "joined"  # another trigger's active job of the same type (a dedup hit)


class TargetType(StrEnum):
    DATA_ENTRIES = "DATA_ENTRIES"
    FACTORS = "FACTORS"
    REFERENCE_DATA = "REFERENCE_DATA"
    # Aggregations get their own target so their is_current slot never collides with a
    # module-level recalculation of the same (module, year).
    STATISTICS = "STATISTICS"


class IngestionMethod(StrEnum):
    api = "api"
    csv = "csv"
    manual = "manual"
    computed = "computed"


class PipelineStatus(StrEnum):
    NOT_STARTED = "NOT_STARTED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    ABORTED = "ABORTED"


TERMINAL_PIPELINE = (
    PipelineStatus.SUCCESS, PipelineStatus.PARTIAL, PipelineStatus.FAILED, PipelineStatus.ABORTED,
)


class Role(StrEnum):
    viewer = "viewer"
    operator = "operator"
