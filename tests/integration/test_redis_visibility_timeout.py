"""Production refuses a Redis broker whose visibility timeout a task may outlive.

On the Redis broker a message goes back to its queue once it has been unacknowledged for
CARBON_VISIBILITY_TIMEOUT, whether its task still runs or not; CARBON_TASK_TIME_LIMIT (1800 s
by default) bounds how long a task may run. docs/multihost.md advised a 300 s timeout to get
a vanished host's work back within minutes, beside the default 1800 s time limit: every
process started with it, and a task running past 300 s would have been handed to a second
worker. Production now refuses that pair in one line, as it refuses every other unsafe
setting; RabbitMQ (no visibility timeout) and development are unaffected.
"""

from __future__ import annotations

import secrets

import pytest
from pydantic import ValidationError

from carbon_domain.settings import Settings
from tests.conftest import BACKEND_URL, production_urls
from tests.integration.test_ops_cli import assert_one_line_error, child_env, run_carbon

PW = "pw-" + secrets.token_hex(6)


def _production_env(**overrides: str) -> dict[str, str]:
    """The session's database and Redis, as a production deployment on the Redis broker."""
    urls = production_urls(PW)
    env: dict[str, str | None] = {
        "CARBON_ENV": "production", "CARBON_FLOWER_PASSWORD": secrets.token_urlsafe(12),
        "CARBON_DATABASE_URL": urls["CARBON_DATABASE_URL"],
        "CELERY_RESULT_BACKEND": urls["CELERY_RESULT_BACKEND"],
        "CELERY_BROKER_URL": urls["CELERY_RESULT_BACKEND"].rsplit("/", 1)[0] + "/11",
        "CARBON_VISIBILITY_TIMEOUT": None, "CARBON_TASK_TIME_LIMIT": None,
        "CARBON_TASK_SOFT_TIME_LIMIT": None}
    env.update(overrides)
    return child_env(**env)


def test_a_visibility_timeout_below_the_task_time_limit_is_refused(db: str) -> None:
    proc = run_carbon("jobs", env=_production_env(CARBON_VISIBILITY_TIMEOUT="300"))
    assert_one_line_error(proc.returncode, proc.stderr, "invalid configuration",
                          "CARBON_VISIBILITY_TIMEOUT=300 must exceed CARBON_TASK_TIME_LIMIT=1800",
                          "handed to a second worker")


def test_a_timeout_above_a_lowered_time_limit_starts(db: str) -> None:
    proc = run_carbon("jobs", env=_production_env(
        CARBON_VISIBILITY_TIMEOUT="300", CARBON_TASK_TIME_LIMIT="240",
        CARBON_TASK_SOFT_TIME_LIMIT="200"))
    assert proc.returncode == 0, proc.stderr
    # The defaults (3600 s against 1800 s) start too.
    assert run_carbon("jobs", env=_production_env()).returncode == 0


def test_rabbitmq_and_development_are_not_concerned() -> None:
    common = {"CARBON_DATABASE_URL": f"postgresql+psycopg2://carbon:{PW}@db:5432/carbon",
              "CELERY_RESULT_BACKEND": BACKEND_URL.replace("redis://", f"redis://:{PW}@", 1),
              "CARBON_FLOWER_PASSWORD": secrets.token_urlsafe(12),
              "CARBON_VISIBILITY_TIMEOUT": "300"}
    rabbit = Settings(CARBON_ENV="production",  # type: ignore[call-arg]
                      CELERY_BROKER_URL=f"amqp://carbon:{PW}@rabbitmq:5672/carbon", **common)
    assert rabbit.visibility_timeout == 300
    redis_broker = f"redis://:{PW}@redis:6379/0"
    assert Settings(CARBON_ENV="development", CELERY_BROKER_URL=redis_broker,  # type: ignore[call-arg]
                    **common).visibility_timeout == 300
    with pytest.raises(ValidationError, match="must exceed CARBON_TASK_TIME_LIMIT"):
        Settings(CARBON_ENV="production", CELERY_BROKER_URL=redis_broker,  # type: ignore[call-arg]
                 **common)
