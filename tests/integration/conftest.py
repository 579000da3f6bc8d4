"""Fixtures of the HTTP API tests (helpers are in ``api_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import create_token

from .api_support import Tokens, wait_idle


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
