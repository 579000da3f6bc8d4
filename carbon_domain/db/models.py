"""Typed SQLAlchemy 2.0 models: the durable source of truth for every piece of state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carbon_domain.db.base import Base, UTCDateTime
from carbon_domain.db.enums import (
    IngestionMethod,
    JobResult,
    JobState,
    JobType,
    PipelineStatus,
    TargetType,
)
from carbon_domain.db.history_models import FactorHistory  # noqa: F401

# Link and reference tables live in their own modules, imported here so Base.metadata has them.
from carbon_domain.db.link_models import AwaitedAggregation, JobLink, PipelineJobLink  # noqa: F401
from carbon_domain.db.preview_models import UploadPreview  # noqa: F401

# The recalculation's bookkeeping (chunks, slice sums, stages), re-exported: the services
# import it from here.
from carbon_domain.db.recalc_models import EmissionStage as EmissionStage
from carbon_domain.db.recalc_models import RecalcChunk as RecalcChunk
from carbon_domain.db.recalc_models import SliceEmissionSum as SliceEmissionSum
from carbon_domain.db.recalc_models import SliceSumVersion as SliceSumVersion
from carbon_domain.db.reference_models import BuildingRoom, ExchangeRate, Station  # noqa: F401
from carbon_domain.db.types import EnumString

TS = UTCDateTime()
# BIGINT on PostgreSQL (emission tables reach tens of millions of rows), INTEGER on SQLite so
# the column stays an alias of the rowid and autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")
_ACTIVE = "state IN ('NOT_STARTED', 'QUEUED', 'RUNNING')"


class Unit(Base):
    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    institutional_code: Mapped[str] = mapped_column(String(64), unique=True)
    institutional_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    level: Mapped[int] = mapped_column(Integer, default=4)
    parent_institutional_code: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class CarbonReport(Base):
    __tablename__ = "carbon_reports"
    __table_args__ = (UniqueConstraint("unit_id", "year", name="uq_carbon_reports_unit_year"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    stats: Mapped[dict[str, Any] | None]
    # When an aggregation last confirmed ``stats`` (read it back with
    # ``carbon_domain.stats.with_computed_at``); a column, not a JSON key: migration 0017.
    stats_computed_at: Mapped[datetime | None] = mapped_column(TS)
    last_updated: Mapped[datetime | None] = mapped_column(TS)


class CarbonReportModule(Base):
    __tablename__ = "carbon_report_modules"
    __table_args__ = (
        UniqueConstraint("carbon_report_id", "module_type_id", name="uq_report_module"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    carbon_report_id: Mapped[int] = mapped_column(
        ForeignKey("carbon_reports.id", ondelete="CASCADE"), index=True
    )
    module_type_id: Mapped[int] = mapped_column(Integer)
    # 0 not started, 1 in progress, 2 validated (the system we replace uses the same ints).
    status: Mapped[int] = mapped_column(Integer, default=0)
    stats: Mapped[dict[str, Any] | None]
    stats_computed_at: Mapped[datetime | None] = mapped_column(TS)  # as CarbonReport's
    last_updated: Mapped[datetime | None] = mapped_column(TS)


class DataEntry(Base):
    __tablename__ = "data_entries"
    __table_args__ = (
        # The slice index: every recalculation chunk reads (type, year, id range).
        Index("ix_data_entries_slice", "data_entry_type_id", "year", "id"),
        # Drill-down pages a report module's entries by id (O(page), migration 0005).
        Index("ix_data_entries_module_id", "carbon_report_module_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    carbon_report_module_id: Mapped[int] = mapped_column(
        ForeignKey("carbon_report_modules.id", ondelete="CASCADE")
    )
    data_entry_type_id: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(16), default="csv")
    # Copied from the report so a whole year of a type can be sliced or replaced in bulk.
    year: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(Integer)
    created_by_job_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())


class DataEntryEmission(Base):
    """One emission row, always on a type that carries a scope; never a rollup.

    No foreign keys (migration 0008): two FK checks per row made COPY ~3× slower. Triggers
    on data_entries and factors delete the rows of a deleted parent in the same statement;
    services/upkeep/integrity.py counts orphans (``carbon db check``).

    On PostgreSQL the table is partitioned by its entry's (type, year), the two columns
    copied from the entry (migration 0014, db/emission_partitions.py); it has no primary key
    there (``id`` is the ORM's identity only: nothing looks a row up by it)."""

    __tablename__ = "data_entry_emissions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    data_entry_id: Mapped[int] = mapped_column(BigId, index=True)
    data_entry_type_id: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)
    emission_type_id: Mapped[int] = mapped_column(Integer)
    scope: Mapped[int] = mapped_column(Integer)
    kg_co2eq: Mapped[float] = mapped_column(Float)
    additional_value: Mapped[float | None] = mapped_column(Float)
    primary_factor_id: Mapped[int | None] = mapped_column(Integer)
    meta: Mapped[dict[str, Any] | None]
    computed_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())


class Factor(Base):
    __tablename__ = "factors"
    __table_args__ = (
        Index("ix_factors_det_year", "data_entry_type_id", "year"),
        # Identity: the canonical classification text (sorted keys, blanks as null) so the
        # same classification written in another key order is the same factor.
        Index(
            "uq_factor_identity", "data_entry_type_id", "year", "emission_type_id",
            "classification_key", unique=True, postgresql_nulls_not_distinct=True,
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    data_entry_type_id: Mapped[int] = mapped_column(Integer)
    emission_type_id: Mapped[int] = mapped_column(Integer)
    year: Mapped[int | None] = mapped_column(Integer)
    classification: Mapped[dict[str, Any]]
    classification_key: Mapped[str] = mapped_column(Text)
    values: Mapped[dict[str, Any]]
    last_seen_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("data_ingestion_jobs.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())
    # Retired = absent from the latest factor file of its scope: never matched again, kept
    # because entries and emission rows still link to it. A later file revives it (same id).
    retired_at: Mapped[datetime | None] = mapped_column(TS)
    retired_by_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("data_ingestion_jobs.id", ondelete="SET NULL")
    )
    # The last upload that inserted, changed the values of, retired or revived this factor
    # (an unchanged row keeps its value): what incremental recalculation starts from.
    changed_by_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("data_ingestion_jobs.id", ondelete="SET NULL")
    )


class Pipeline(Base):
    __tablename__ = "pipelines"
    __table_args__ = (Index("ix_pipelines_module_year", "module_type_id", "year"),
                      Index("ix_pipelines_created_at", "created_at"))
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[PipelineStatus] = mapped_column(EnumString(PipelineStatus, 16),
                                                   default=PipelineStatus.RUNNING, index=True)
    module_type_id: Mapped[int | None] = mapped_column(Integer)
    year: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(128))
    job_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Joined jobs and awaited aggregations: db/link_models.py. meta: reports only.
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())
    started_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())


class DataIngestionJob(Base):
    __tablename__ = "data_ingestion_jobs"
    __table_args__ = (
        # One current job per combo; NULLs not distinct so module-level jobs (det NULL)
        # collide too (PostgreSQL 15). Doubles as a per-combo run mutex at claim time.
        Index(
            "uq_jobs_is_current",
            "module_type_id", "data_entry_type_id", "target_type", "ingestion_method", "year",
            unique=True,
            postgresql_where=text("is_current"),
            sqlite_where=text("is_current"),
            postgresql_nulls_not_distinct=True,
        ),
        Index(
            "uq_emission_recalc_active",
            "module_type_id", "data_entry_type_id", "year",
            unique=True,
            postgresql_where=text(f"job_type = 'emission_recalc' AND {_ACTIVE}"),
            sqlite_where=text(f"job_type = 'emission_recalc' AND {_ACTIVE}"),
        ),
        Index(
            "uq_aggregation_active",
            "module_type_id", "year",
            unique=True,
            postgresql_where=text(f"job_type = 'aggregation' AND {_ACTIVE}"),
            sqlite_where=text(f"job_type = 'aggregation' AND {_ACTIVE}"),
        ),
        # The outbox scan and the staleness query both filter on these.
        Index("ix_jobs_state", "state", "job_type"),
        Index("ix_jobs_status_lookup", "year", "module_type_id", "target_type"),
        # The staleness probes: "last job of this kind for (year, module, type)" is one
        # backward scan of this index (services/reads/status_probes.py), whatever the history.
        Index("ix_jobs_combo", "year", "job_type", "module_type_id", "data_entry_type_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    job_type: Mapped[JobType] = mapped_column(EnumString(JobType, 64))
    module_type_id: Mapped[int | None] = mapped_column(Integer)
    data_entry_type_id: Mapped[int | None] = mapped_column(Integer)
    year: Mapped[int | None] = mapped_column(Integer)
    target_type: Mapped[TargetType] = mapped_column(EnumString(TargetType, 32))
    ingestion_method: Mapped[IngestionMethod] = mapped_column(EnumString(IngestionMethod, 16))
    state: Mapped[JobState] = mapped_column(EnumString(JobState, 16),
                                            default=JobState.NOT_STARTED)
    result: Mapped[JobResult | None] = mapped_column(EnumString(JobResult, 16))
    status_message: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)  # validated: job_meta.py
    # Meta keys until 0009. covers_input_job_id: a not-yet-started recalculation will read
    # inputs up to this id (a mark compared with >=, no FK); rerun_job_id: a dirty one's rerun.
    covers_input_job_id: Mapped[int | None] = mapped_column(Integer)
    rerun_job_id: Mapped[int | None] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # Set by a request that arrives while this job runs: the job runs once more after.
    dirty: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    progress_done: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    progress_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    celery_task_id: Mapped[str | None] = mapped_column(String(64))
    upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("uploaded_files.id", ondelete="SET NULL")
    )
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())
    # NULL until the message reached the broker: the reconciler's outbox marker.
    dispatched_at: Mapped[datetime | None] = mapped_column(TS)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    heartbeat_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)


class UploadedFile(Base):
    """CSV bytes kept in the database so any worker on any machine can read an upload."""

    __tablename__ = "uploaded_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # SHA-256 of a 256-bit random token: a slow KDF buys nothing at that entropy.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())
    last_used_at: Mapped[datetime | None] = mapped_column(TS)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class ConsoleSession(Base):
    """A signed-in console browser. The cookie holds a random 256-bit id; only its SHA-256 is
    stored, so a database leak cannot be replayed. Deleting the row signs the browser out; a
    revoked token ends every session of it (checked by a join on each request)."""

    __tablename__ = "console_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())
    expires_at: Mapped[datetime] = mapped_column(TS)
