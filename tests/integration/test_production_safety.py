"""A production deployment refuses to start unsafe; uploads are bounded by a retention; full-year
exports are limited per caller.

- ``CARBON_ENV`` is normalised (``Production``, `` production``, ``prod``) and an unknown name
  is refused, so a typo can never run production in development mode.
- In production: passwords on the database, broker and result backend URLs, a result backend
  shared by every process, a Flower password of at least 12 characters, HSTS on.
- ``carbon.purge_uploads`` (beat) deletes uploads beyond N days or K per scope, never one an
  active job still needs.
- A caller past CARBON_EXPORT_CONCURRENCY full-year exports in flight gets 429.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, update

from carbon_domain.settings import Settings, get_settings
from tests.conftest import production_urls
from tests.integration.api_support import Tokens
from tests.integration.test_ops_cli import assert_one_line_error, child_env, run_carbon
from tests.integration.test_results_out import YEAR, loaded  # noqa: F401 - fixture

PW = secrets.token_urlsafe(12)


def production(**overrides: str | None) -> Settings:
    values: dict[str, str | None] = {
        "CARBON_ENV": "production",
        "CARBON_DATABASE_URL": f"postgresql+psycopg2://carbon:{PW}@db:5432/carbon",
        "CELERY_BROKER_URL": f"amqp://carbon:{PW}@rabbitmq:5672/carbon",
        "CELERY_RESULT_BACKEND": f"redis://:{PW}@redis:6379/1",
        "CARBON_FLOWER_PASSWORD": secrets.token_urlsafe(12),
    }
    values.update(overrides)
    return Settings(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


@pytest.mark.parametrize("given", ["production", "Production", " production", "PROD ", "prod",
                                   "\tProduction\n"])
def test_production_names_are_normalised(given: str) -> None:
    assert production(CARBON_ENV=given).environment == "production"
    # ... and the normalised name is enforced: no password on the database is refused.
    with pytest.raises(ValidationError, match="CARBON_DATABASE_URL has no password"):
        production(CARBON_ENV=given, CARBON_DATABASE_URL="postgresql+psycopg2://carbon@db/c")


@pytest.mark.parametrize(("given", "expected"), [("Development", "development"),
                                                 ("dev", "development"), (" TEST", "test")])
def test_other_names_are_normalised(given: str, expected: str) -> None:
    assert Settings(CARBON_ENV=given).environment == expected  # type: ignore[call-arg]


@pytest.mark.parametrize("given", ["staging", "prodution", "", "production-eu"])
def test_unknown_environment_is_refused(given: str) -> None:
    with pytest.raises(ValidationError, match="not a known environment"):
        Settings(CARBON_ENV=given)  # type: ignore[call-arg]


def test_unknown_environment_is_one_clear_line(services: None) -> None:
    proc = run_carbon("jobs", env=child_env(CARBON_ENV="Prodution"))
    assert_one_line_error(proc.returncode, proc.stderr, "invalid configuration",
                          "CARBON_ENV='Prodution'", "production, development, test")


REFUSED = {
    "database without password": (
        {"CARBON_DATABASE_URL": "postgresql+psycopg2://carbon@db:5432/carbon"},
        "CARBON_DATABASE_URL has no password"),
    "Redis broker without password": (
        {"CELERY_BROKER_URL": "redis://redis:6379/0"}, "CELERY_BROKER_URL has no password"),
    "RabbitMQ broker without password": (
        {"CELERY_BROKER_URL": "amqp://rabbitmq:5672//"}, "CELERY_BROKER_URL has no password"),
    "RabbitMQ default guest account": (
        {"CELERY_BROKER_URL": "amqp://guest:guest@rabbitmq:5672//"}, "placeholder password"),
    "result backend without password": (
        {"CELERY_RESULT_BACKEND": "redis://redis:6379/1"},
        "CELERY_RESULT_BACKEND has no password"),
    "in-process result backend": (
        {"CELERY_RESULT_BACKEND": "cache+memory://"}, "lives inside one process"),
    "rpc result backend": ({"CELERY_RESULT_BACKEND": "rpc://"}, "lives inside one process"),
    "11-character Flower password": (
        {"CARBON_FLOWER_PASSWORD": "k" * 11}, "at least 12 characters"),
    "HSTS off": ({"CARBON_HSTS_SECONDS": "0"}, "CARBON_HSTS_SECONDS"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_production_refuses_unsafe_settings(case: str) -> None:
    overrides, message = REFUSED[case]
    with pytest.raises(ValidationError, match=message):
        production(**overrides)
    # The same values are fine in development: only production is strict.
    assert production(CARBON_ENV="development", **overrides).environment == "development"


def test_production_names_the_one_url_left_at_its_default(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """It said "production needs CARBON_DATABASE_URL and CELERY_BROKER_URL" when one of them
    was missing, and an operator checked the one that was right."""
    for name in ("CARBON_DATABASE_URL", "CELERY_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError) as unset_db:
        production(CARBON_DATABASE_URL=None)
    text = str(unset_db.value)
    assert "production needs CARBON_DATABASE_URL (a PostgreSQL URL; it is unset)" in text
    assert "CELERY_BROKER_URL (" not in text
    with pytest.raises(ValidationError) as memory_broker:
        production(CELERY_BROKER_URL="memory://")
    text = str(memory_broker.value)
    assert ("production needs CELERY_BROKER_URL (an amqp:// or redis:// URL; it is in-memory)"
            in text)
    assert "CARBON_DATABASE_URL (" not in text
    with pytest.raises(ValidationError, match="CARBON_DATABASE_URL \\(a PostgreSQL URL; it is"
                                              " SQLite\\)"):
        production(CARBON_DATABASE_URL="sqlite:///x.db")


def test_production_accepts_a_safe_configuration() -> None:
    s = production(CARBON_FLOWER_PASSWORD="k" * 12)  # exactly the minimum
    assert (s.environment, s.hsts_seconds) == ("production", 31_536_000)
    redis_broker = production(CELERY_BROKER_URL=f"redis://:{PW}@redis:6379/0")
    assert redis_broker.broker_url.startswith("redis://")


@pytest.fixture
def app_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Build the app under other settings (the environment patched, the cache cleared)."""
    def build(**env: str) -> Any:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        from carbon_api.app import create_app
        return create_app()
    try:
        yield build
    finally:
        get_settings.cache_clear()


def test_hsts_header_in_production_only(db: str, app_in: Any) -> None:
    prod = app_in(CARBON_ENV="Production", **production_urls(PW),
                  CARBON_FLOWER_PASSWORD=secrets.token_urlsafe(12), CARBON_HSTS_SECONDS="600")
    r = TestClient(prod).get("/v1/health")
    assert r.headers["strict-transport-security"] == "max-age=600; includeSubDomains"
    assert TestClient(prod).get("/docs").status_code == 404  # production: no public docs
    dev = app_in(CARBON_ENV="development")
    assert "strict-transport-security" not in TestClient(dev).get("/v1/health").headers


# -- upload retention -----------------------------------------------------------------------

def _upload(s: Any, name: str, age_days: float, job: dict[str, Any] | None = None) -> int:
    from carbon_domain.db.base import utcnow
    from carbon_domain.db.models import UploadedFile
    from carbon_domain.services.inputs.uploads import store_upload
    from carbon_domain.services.jobs.jobs import create_job

    fid = store_upload(s, filename=name, content=name.encode() * 10, content_type="text/csv",
                       created_by="test")
    s.execute(update(UploadedFile).where(UploadedFile.id == fid).values(
        created_at=utcnow() - timedelta(days=age_days)))
    if job is not None:
        state = job.pop("state", None)
        j = create_job(s, upload_id=fid, **job)
        if state is not None:
            j.state = state
    return fid


def test_upload_retention_by_age_and_per_scope(db: str, worker: Any) -> None:
    from carbon_domain.db.enums import IngestionMethod, JobState, JobType, TargetType
    from carbon_domain.db.models import DataIngestionJob, UploadedFile
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.upkeep.upload_retention import purge_uploads

    def entries(det: int, **extra: Any) -> dict[str, Any]:
        return {"job_type": JobType.csv_ingest, "module_type_id": 4, "pipeline_id": None,
                "data_entry_type_id": det, "year": 2025, "target_type": TargetType.DATA_ENTRIES,
                "ingestion_method": IngestionMethod.csv, **extra}

    with session_scope() as s:
        # Scope type 10: four uploads; keep the newest 2 (ages 1 and 2 days).
        t10 = [_upload(s, f"t10-{age}", age, entries(10, state=JobState.FINISHED))
               for age in (1, 2, 3, 4)]
        # Scope type 11: one old upload (40 days), one whose job is still running (50 days).
        old11 = _upload(s, "t11-old", 40, entries(11, state=JobState.FINISHED))
        running = _upload(s, "t11-running", 50, entries(11, state=JobState.RUNNING))
        orphan_new, orphan_old = _upload(s, "orphan-new", 5), _upload(s, "orphan-old", 31)
    with session_scope() as s:
        result = purge_uploads(s, max_age_days=30, keep_per_scope=2)
    with session_scope() as s:
        left = set(s.scalars(select(UploadedFile.id)))
        jobs_left = dict(s.execute(select(DataIngestionJob.data_entry_type_id,
                                          DataIngestionJob.upload_id)
                                   .where(DataIngestionJob.state == JobState.RUNNING)).all())
        history = s.scalar(select(DataIngestionJob.id).where(
            DataIngestionJob.upload_id.is_(None)))
    assert left == {t10[0], t10[1], running, orphan_new}
    assert {old11, orphan_old, t10[2], t10[3]}.isdisjoint(left)
    assert (result.purged, result.by_count, result.kept) == (4, 2, 4)
    assert jobs_left == {11: running}  # the running job's upload is still there
    assert history is not None  # purged uploads' jobs stay, upload_id NULL

    # The beat task, through the real worker, with the configured retention (0 = rule off).
    from carbon_tasks.retention import purge_uploads as task
    settings = get_settings()
    assert settings.upload_retention_days == 90 and settings.upload_retention_keep == 20
    with session_scope() as s:
        ancient = _upload(s, "ancient", 91)
    out = task.delay().get(timeout=30)
    assert out["purged"] == 1
    with session_scope() as s:
        assert s.get(UploadedFile, ancient) is None
    import celeryconfig
    assert celeryconfig.beat_schedule["purge-uploads"] == {
        "task": "carbon.purge_uploads", "schedule": settings.upload_purge_interval}


# -- export concurrency ---------------------------------------------------------------------

def test_full_year_exports_are_limited_per_caller(api: TestClient, tokens: Tokens,
                                                  loaded: dict[str, int]) -> None:  # noqa: F811
    from carbon_api.export_limit import SLOTS
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.access.tokens import create_token

    limit = get_settings().export_concurrency
    assert limit == 2
    with session_scope() as s:
        other = {"Authorization": f"Bearer {create_token(s, 'dash-carol', 'viewer')}"}
    url, params = "/v1/exports/data/11.csv", {"year": YEAR}
    assert api.get(url, params=params, headers=tokens.view).status_code == 200
    assert SLOTS.active("dash-bob") == 0  # the finished stream gave its slot back
    # Two exports of dash-bob in flight (held slots): the third is refused, others are not.
    held = [SLOTS.acquire("dash-bob", limit) for _ in range(limit)]
    try:
        for path in (url, "/v1/exports/results.csv"):
            r = api.get(path, params=params, headers=tokens.view)
            assert r.status_code == 429, (path, r.status_code)
            assert r.headers["retry-after"] == "5" and "dash-bob" in r.json()["detail"]
        # One unit's results are not a full-year export; another caller has its own slots.
        assert api.get("/v1/exports/results.csv", params={"year": YEAR, "unit": "LAB-A"},
                       headers=tokens.view).status_code == 200
        assert api.get(url, params=params, headers=other).status_code == 200
        release = held.pop()
        assert release is not None
        release()
        release()  # idempotent
        assert api.get(url, params=params, headers=tokens.view).status_code == 200
        # A refused check (404) gives the slot back too.
        assert api.get(url, params={"year": 2031}, headers=tokens.view).status_code == 404
        assert SLOTS.active("dash-bob") == 1
    finally:
        for r in held:
            if r is not None:
                r()
    assert SLOTS.active("dash-bob") == 0
