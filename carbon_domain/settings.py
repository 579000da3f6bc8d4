"""The one settings object (pydantic-settings), read from the environment.

With nothing set, the defaults are the embedded ones: a SQLite file under ``./.carbon/`` and
an in-process memory broker, so every command runs on a bare machine.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from carbon_domain.production import (  # noqa: F401 - PLACEHOLDER_SECRETS is re-exported
    PLACEHOLDER_SECRETS,
    normalize_environment,
    production_problems,
)

_HOME = Path(".carbon")


def is_amqp_url(url: str) -> bool:
    return url.strip().lower().startswith(("amqp://", "amqps://", "pyamqp://"))


# Bare PostgreSQL schemes as hosting platforms hand them out. SQLAlchemy 2.1 maps
# `postgresql://` to psycopg 3 and knows no `postgres://` at all; we install psycopg2.
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_DRIVER = "postgresql+psycopg2://"


def normalize_database_url(url: str) -> str:
    """``postgresql://…`` and ``postgres://…`` → ``postgresql+psycopg2://…``; others as is."""
    url = url.strip()
    for scheme in _POSTGRES_SCHEMES:
        if url[:len(scheme)].lower() == scheme:
            return _DRIVER + url[len(scheme):]
    return url


def database_url_problem(url: str) -> str | None:
    """Why SQLAlchemy cannot use ``url`` on this installation (no connection is made), or
    None. The password never appears in the message."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return ("not a database URL; expected postgresql://USER:PASSWORD@HOST:5432/DB or "
                "sqlite:///PATH")
    shown = parsed.render_as_string(hide_password=True)
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return (f"{shown}: unknown database kind {parsed.drivername!r}; use postgresql://… "
                "or sqlite:///…")
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return (f"{shown}: the driver for {parsed.drivername!r} is not installed ({exc}); "
                "use postgresql://… (psycopg2) or sqlite:///…")
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    # Normalised: " Production", "PROD" → "production"; an unknown name is refused.
    environment: str = Field("development", alias="CARBON_ENV")
    database_url: str = Field(f"sqlite:///{_HOME / 'carbon.db'}", alias="CARBON_DATABASE_URL")
    broker_url: str = Field("memory://", alias="CELERY_BROKER_URL")
    result_backend: str = Field("cache+memory://", alias="CELERY_RESULT_BACKEND")
    # Prepended to every Redis key of the broker and result backend, so several
    # deployments (or concurrent test sessions) can share one Redis database.
    redis_key_prefix: str = Field("", alias="CARBON_REDIS_KEY_PREFIX")

    # Chunks of 5–20k entries keep each task's transaction short while amortising the
    # ~4 ms per-task Celery overhead to well under 1% of the chunk's work.
    chunk_size: int = Field(10_000, alias="CARBON_CHUNK_SIZE", ge=1)
    # A whole slice with fewer emission rows per entry gets up to this many times chunk_size
    # entries per chunk (services/recalc/chunk_sizing.py); 1 = chunks of chunk_size entries.
    chunk_max_growth: float = Field(4.0, alias="CARBON_CHUNK_MAX_GROWTH", ge=1)
    # A full recalculation expected to write at most this many emission rows gets its stage
    # indexed from the start and sums each chunk's rows as it goes (services/recalc/
    # recalc_chunk.py); bigger slices index and sum once, after their last chunk. 0: never.
    stage_indexed_max_rows: int = Field(200_000, alias="CARBON_STAGE_INDEXED_MAX_ROWS", ge=0)
    max_upload_bytes: int = Field(50 * 1024 * 1024, alias="CARBON_MAX_UPLOAD_BYTES", ge=1)
    max_row_errors: int = Field(100, alias="CARBON_MAX_ROW_ERRORS", ge=1)
    job_max_attempts: int = Field(3, alias="CARBON_JOB_MAX_ATTEMPTS", ge=1)

    # Must exceed the longest task (and any retry countdown) or Redis redelivers a task
    # that is still running; tests lower it so a killed worker's work returns in seconds.
    visibility_timeout: int = Field(3600, alias="CARBON_VISIBILITY_TIMEOUT", ge=1)
    # Redis broker: how often each worker sweeps messages unacked for longer than the
    # visibility timeout back into their queues (a host that vanished holding them). Unset:
    # kombu's default, a scan every ~100 s; docs/multihost.md has the figures.
    unacked_restore_seconds: float | None = Field(
        None, alias="CARBON_UNACKED_RESTORE_SECONDS", gt=0)
    task_soft_time_limit: int = Field(1500, alias="CARBON_TASK_SOFT_TIME_LIMIT", ge=1)
    task_time_limit: int = Field(1800, alias="CARBON_TASK_TIME_LIMIT", ge=1)
    # Safety net: a pool child whose memory passed this after a task is replaced by a fresh
    # one (Celery's worker_max_memory_per_child). 0 = no limit. Children peak at ~195 MB at
    # 1M entries and ~212 MB at 8M (docs/performance.md, Worker memory); the net catches
    # growth, not the normal peak.
    worker_max_memory_mb: int = Field(512, alias="CARBON_WORKER_MAX_MEMORY_MB", ge=0)
    # A RUNNING job not heard from for this long is considered orphaned by the reconciler.
    stale_job_seconds: int = Field(1800, alias="CARBON_STALE_JOB_SECONDS", ge=1)
    # A running pipeline none of whose jobs moved for this long says so on every surface
    # ("no progress for …", services/reads/pipeline_facts.py), long before the reconciler
    # acts on it at stale_job_seconds. A chunk commits every few seconds; 2 min of silence
    # is well past any healthy gap seen in the benches (the 8M run's longest chunk: 11 s).
    no_progress_seconds: float = Field(120.0, alias="CARBON_NO_PROGRESS_SECONDS", gt=0)
    reconcile_interval: float = Field(60.0, alias="CARBON_RECONCILE_INTERVAL", gt=0)
    # Grace period before the reconciler re-dispatches a committed job nobody picked up.
    dispatch_grace_seconds: int = Field(30, alias="CARBON_DISPATCH_GRACE_SECONDS", ge=0)

    flower_user: str = Field("admin", alias="CARBON_FLOWER_USER")
    flower_password: SecretStr | None = Field(None, alias="CARBON_FLOWER_PASSWORD")
    flower_address: str = Field("127.0.0.1", alias="CARBON_FLOWER_ADDRESS")
    flower_port: int = Field(5555, alias="CARBON_FLOWER_PORT")

    api_host: str = Field("127.0.0.1", alias="CARBON_API_HOST")
    api_port: int = Field(8000, alias="CARBON_API_PORT")
    sse_poll_seconds: float = Field(1.0, alias="CARBON_SSE_POLL_SECONDS", gt=0)
    sse_ping_seconds: float = Field(15.0, alias="CARBON_SSE_PING_SECONDS", gt=0)
    # Live event streams one API token or one console session may hold open at once (per
    # API process); one more answers 429. A page holds one, a script a few.
    sse_max_streams: int = Field(8, alias="CARBON_SSE_MAX_STREAMS", ge=1)
    # Request bodies of every route but the uploads (sign-in, sign-out, console forms): a
    # form of a few fields, so anything larger is refused (413) before it is parsed.
    max_form_bytes: int = Field(64 * 1024, alias="CARBON_MAX_FORM_BYTES", ge=1024)
    log_level: str = Field("INFO", alias="CARBON_LOG_LEVEL")
    # Production hardening and housekeeping (carbon_domain/production.py, docs/operating.md).
    hsts_seconds: int = Field(31_536_000, alias="CARBON_HSTS_SECONDS", ge=0)
    upload_retention_days: int = Field(90, alias="CARBON_UPLOAD_RETENTION_DAYS", ge=0)
    upload_retention_keep: int = Field(20, alias="CARBON_UPLOAD_RETENTION_KEEP", ge=0)
    upload_purge_interval: float = Field(3600.0, alias="CARBON_UPLOAD_PURGE_INTERVAL", gt=0)
    export_concurrency: int = Field(2, alias="CARBON_EXPORT_CONCURRENCY", ge=1)
    # Show full tracebacks in the CLI instead of one-line error messages.
    debug: bool = Field(False, alias="CARBON_DEBUG")

    @field_validator("environment", mode="before")
    @classmethod
    def _known_environment(cls, v: object) -> str:
        return normalize_environment(str(v))

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, v: str) -> str:
        url = normalize_database_url(v)
        problem = database_url_problem(url)
        if problem:
            raise ValueError(problem)
        return url

    @model_validator(mode="after")
    def _production_is_safe(self) -> Settings:
        if self.environment == "production":
            problems = production_problems(self) + self._redelivery_problems()
            if problems:
                raise ValueError("; ".join(problems))
        return self

    def _redelivery_problems(self) -> list[str]:
        """On the Redis broker a message goes back to its queue once it has been
        unacknowledged for the visibility timeout, whether its task still runs or not: a
        timeout a task may outlive (CARBON_TASK_TIME_LIMIT bounds every task) hands a running
        task to a second worker. RabbitMQ has no such timeout."""
        if not self.broker_url.startswith("redis") or \
                self.visibility_timeout > self.task_time_limit:
            return []
        return [f"CARBON_VISIBILITY_TIMEOUT={self.visibility_timeout} must exceed "
                f"CARBON_TASK_TIME_LIMIT={self.task_time_limit} on the Redis broker: a task "
                f"still running after {self.visibility_timeout} s would be handed to a second "
                "worker; raise the timeout, or lower CARBON_TASK_TIME_LIMIT and "
                "CARBON_TASK_SOFT_TIME_LIMIT below it"]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("memory://")

    @property
    def amqp_broker(self) -> bool:
        """RabbitMQ (``amqp://``, ``amqps://``, ``pyamqp://``)."""
        return is_amqp_url(self.broker_url)


@lru_cache
def get_settings() -> Settings:
    return Settings()
