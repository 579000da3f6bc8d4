"""Property-based run of the OpenAPI document (schemathesis): no input, however odd, makes
the API answer 5xx, and every answer matches what the document says."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from carbon_api.app import app
from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import create_token

from .api_support import wait_idle

pytestmark = pytest.mark.integration

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture
def operator(db: str, worker: Any) -> Any:
    with session_scope() as s:
        token = create_token(s, "fuzz-operator", "operator")
    yield {"Authorization": f"Bearer {token}"}
    wait_idle()


@schema.parametrize()
# Derandomized: the same examples every run, so CI is reproducible; widen max_examples
# locally to explore more.
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
def test_openapi_conformance(case: Any, operator: dict[str, str]) -> None:
    # positive_data_acceptance is left out: a schema-valid *file* (any bytes) is not
    # necessarily a usable CSV, and refusing it is the documented 400.
    # negative_data_rejection is left out because its only finding is by design: unknown
    # query parameters are ignored (FastAPI's contract, kind to cache-busters and newer
    # clients), while every declared parameter is validated (422) — checked by the route
    # tests. Server errors, status codes and response schemas are all still checked.
    case.call_and_validate(headers=operator,
                           excluded_checks=[schemathesis.checks.positive_data_acceptance,
                                            schemathesis.checks.negative_data_rejection])
