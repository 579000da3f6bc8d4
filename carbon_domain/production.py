"""What a production deployment must have before any process starts (``CARBON_ENV``).

The environment name is normalised (case, spaces, ``prod``) so a typo can never silently run
production in development mode, and an unknown name is refused. In production every URL
carries a password, the result backend is one that several processes share, Flower's
password is long enough to resist guessing, and the API sends HSTS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from carbon_domain.settings import Settings

# Placeholder secrets shipped in docker/.env.example; production refuses to start with them.
# "guest" is RabbitMQ's default account (loopback only).
PLACEHOLDER_SECRETS = frozenset({"", "changethis", "admin", "guest"})
ENVIRONMENTS = ("production", "development", "test")
_ALIASES = {"prod": "production", "dev": "development", "develop": "development",
            "testing": "test"}
FLOWER_PASSWORD_MIN = 12
# Result backends that live inside one process or cannot hold chord state: workers in other
# processes would never see the results (a chord would wait forever).
_NOT_SHARED_BACKENDS = ("cache+memory", "memory", "rpc", "disabled")


def normalize_environment(value: str) -> str:
    """``" Production"`` → ``"production"``, ``"prod"`` → ``"production"``; an unknown
    name raises ValueError naming the accepted ones."""
    name = value.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in ENVIRONMENTS:
        raise ValueError(f"CARBON_ENV={value!r} is not a known environment; use one of "
                         f"{', '.join(ENVIRONMENTS)} (or prod, dev)")
    return name


def url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def production_problems(s: Settings) -> list[str]:
    """Every reason ``s`` is unsafe for production (empty when it is fine). The Flower
    password comes first: it is the one most often left at its placeholder."""
    problems = []
    flower = s.flower_password.get_secret_value() if s.flower_password is not None else ""
    if flower in PLACEHOLDER_SECRETS:
        problems.append("CARBON_FLOWER_PASSWORD must be set to a real secret in production")
    elif len(flower) < FLOWER_PASSWORD_MIN:
        problems.append(f"CARBON_FLOWER_PASSWORD must have at least {FLOWER_PASSWORD_MIN} "
                        "characters in production")
    # Each named alone: with only the broker's set, the line named both and sent the
    # operator looking for a mistake in the one that was right.
    if s.database_url.startswith("sqlite"):
        problems.append("production needs CARBON_DATABASE_URL (a PostgreSQL URL; it is "
                        f"{'unset' if _is_default(s, 'database_url') else 'SQLite'})")
    if s.broker_url.startswith("memory"):
        problems.append("production needs CELERY_BROKER_URL (an amqp:// or redis:// URL; it is"
                        f" {'unset' if _is_default(s, 'broker_url') else 'in-memory'})")
    backend = s.result_backend.strip().lower()
    if not backend or backend.split(":", 1)[0] in _NOT_SHARED_BACKENDS:
        problems.append(f"CELERY_RESULT_BACKEND={s.result_backend!r} lives inside one process;"
                        " production needs a shared one such as redis://:PASSWORD@HOST:6379/1")
    for name, url in (("CARBON_DATABASE_URL", s.database_url),
                      ("CELERY_BROKER_URL", s.broker_url),
                      ("CELERY_RESULT_BACKEND", s.result_backend)):
        if url.startswith(("sqlite", "memory", "cache+memory")):
            continue
        password = url_password(url)
        if not password:
            problems.append(f"{name} has no password; production needs authenticated services")
        elif password in PLACEHOLDER_SECRETS:
            problems.append(f"{name} uses a placeholder password; set a real secret")
    if s.hsts_seconds <= 0:
        problems.append("CARBON_HSTS_SECONDS must be positive in production (HSTS on)")
    return problems


def _is_default(s: Settings, field: str) -> bool:
    """The field was not given (environment or argument), so it is the default."""
    return field not in s.model_fields_set
