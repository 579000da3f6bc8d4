"""Fixtures of the HTTP API tests (helpers are in ``api_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import create_token

from .api_support import Tokens, wait_idle
from .test_emission_integrity import _fresh_db


@pytest.fixture
def tokens(db: str) -> Tokens:
    with session_scope() as s:
        return Tokens(operator=create_token(s, "ops-alice", "operator"),
                      viewer=create_token(s, "dash-bob", "viewer"))


@pytest.fixture
def api(db: str, worker: Any) -> Iterator[TestClient]:
    """A client of the app, with the real worker running: any test may start work, and a
    message nobody consumes would be picked up by a later test against a reused job id."""
    from carbon_api.app import app
    # raise_server_exceptions: a 500 fails the test with the server's traceback.
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client
    wait_idle()


# Migration tests (test_migration_*.py): a fresh PostgreSQL database per test, and `url`,
# which runs a test on it and on a SQLite file.
@pytest.fixture
def pg_url(services: None) -> Iterator[str]:
    yield from _fresh_db(services)


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migration.db'}"
    else:
        yield request.getfixturevalue("pg_url")
