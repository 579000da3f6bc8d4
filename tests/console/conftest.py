"""Fixtures of the console tests: tokens, a live server (real uvicorn + the suite's real
worker on PostgreSQL + Redis) and signed-in HTTP clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import create_token
from tests.integration.api_support import wait_idle

from .support import live_server


@pytest.fixture(scope="session")
def server(pg_database: str, worker: Any) -> Iterator[str]:
    with live_server() as url:
        yield url


@pytest.fixture
def tokens(db: str) -> dict[str, str]:
    with session_scope() as s:
        return {"operator": create_token(s, "ops-alice", "operator"),
                "viewer": create_token(s, "dash-bob", "viewer")}


@pytest.fixture
def http(server: str, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c
    wait_idle()
