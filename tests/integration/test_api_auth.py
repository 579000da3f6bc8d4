"""The auth matrix: every route × (no token, bad token, viewer, operator)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon_domain.db.models import UploadedFile
from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import revoke_token

from .api_support import Tokens, insert_entry, row_counts
from .helpers import count

pytestmark = pytest.mark.integration

PID = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    write: bool = False
    upload: bool = False
    viewer: int = 200  # expected status for a viewer (403 for writes)
    operator: int = 200  # for an operator, with this harmless request

    @property
    def template(self) -> str:
        return self.path

    def call(self, client: TestClient, headers: dict[str, str]) -> Any:
        kw: dict[str, Any] = {"params": self.params, "headers": headers}
        if self.upload:
            kw["files"] = {"file": ("empty.csv", b"", "text/csv")}
        return client.request(self.method, self.path, **kw)


# Each with a request that is harmless for an operator: empty uploads are refused (400),
# unknown ids are 404, only_stale with nothing stale is 400.
ROUTES = [
    Route("GET", "/v1/catalog/modules"),
    Route("GET", "/v1/catalog/emission-types"),
    Route("POST", "/v1/sync/units", {"year": 2025}, True, True, 403, 400),
    Route("POST", "/v1/sync/reference/stations", {}, True, True, 403, 400),
    Route("POST", "/v1/sync/factors/4", {"year": 2025}, True, True, 403, 400),
    Route("POST", "/v1/sync/data-entries/4", {"year": 2025}, True, True, 403, 400),
    Route("POST", "/v1/sync/recalculate-emissions/4/11", {"year": 2025}, True, False, 403, 202),
    Route("POST", "/v1/sync/recalculate-emissions/4", {"year": 2025, "only_stale": "true"},
          True, False, 403, 400),
    Route("GET", "/v1/sync/recalculation-status", {"year": 2025}),
    Route("GET", "/v1/sync/recalculation-preview/4", {"year": 2025}),
    Route("GET", "/v1/health/stale-stats", {"older_than": 60}),
    Route("GET", "/v1/sync/jobs/999999", viewer=404, operator=404),
    Route("GET", "/v1/sync/jobs/999999/stream", viewer=404, operator=404),
    Route("GET", "/v1/sync/pipelines"),
    Route("GET", f"/v1/sync/pipelines/{PID}", viewer=404, operator=404),
    Route("GET", f"/v1/sync/pipelines/{PID}/stream", viewer=404, operator=404),
    Route("POST", f"/v1/sync/pipelines/{PID}/abort", write=True, viewer=403, operator=404),
    Route("POST", f"/v1/sync/pipelines/{PID}/recover", write=True, viewer=403, operator=404),
    Route("GET", "/v1/reports", {"year": 2025}),
    Route("GET", "/v1/reports/999999/modules/4/stats", viewer=404, operator=404),
    Route("GET", "/v1/workers"),
    Route("GET", "/v1/workers/overview"),
    Route("GET", "/metrics"),
    Route("GET", "/v1/factors", {"module_type_id": 4, "year": 2025, "include_retired": "true"}),
    Route("GET", "/v1/factors/999999/history", viewer=404, operator=404),
    Route("POST", "/v1/sync/uploads/999999/revert", write=True, viewer=403, operator=404),
    Route("GET", "/v1/reports/999999/modules/4/entries", viewer=404, operator=404),
    Route("GET", "/v1/data-entries/999999/explain", viewer=404, operator=404),
    Route("GET", "/v1/exports/results.csv", {"year": 2025}, viewer=404, operator=404),
    Route("GET", "/v1/exports/data/11.csv", {"year": 2025}, viewer=404, operator=404),
    Route("GET", "/v1/sync/previews/999999", viewer=404, operator=404),
    Route("POST", "/v1/sync/previews/999999/apply", write=True, viewer=403, operator=404),
    Route("DELETE", "/v1/sync/previews/999999", write=True, viewer=403, operator=404),
]
IDS = [f"{r.method} {r.path}" for r in ROUTES]

BAD_TOKENS = {
    "garbage": "Bearer not-a-token",
    "unknown": "Bearer cbn_" + "A" * 43,
    "wrong scheme": "Basic b3BzOnNlY3JldA==",
    "empty bearer": "Bearer ",
    "no scheme": "cbn_" + "A" * 43,
}


def test_route_table_covers_every_route(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    covered = set()
    for r in ROUTES:
        for p in schema["paths"]:
            if _matches(p, r.path):
                covered.add((r.method, p))
    assert documented - covered == {("GET", "/v1/health")}


def _matches(template: str, path: str) -> bool:
    t, p = template.split("/"), path.split("/")
    return len(t) == len(p) and all(a == b or a.startswith("{") for a, b in zip(t, p, strict=True))


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_no_token_is_401_with_a_challenge(api: TestClient, route: Route) -> None:
    before = row_counts()
    r = route.call(api, {})
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "bearer token" in r.json()["detail"].lower()
    assert row_counts() == before


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_bad_tokens_are_401(api: TestClient, tokens: Tokens, route: Route) -> None:
    before = row_counts()
    for name, header in BAD_TOKENS.items():
        r = route.call(api, {"Authorization": header})
        assert r.status_code == 401, (name, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer"), name
    assert row_counts() == before


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_viewer_reads_but_never_writes(api: TestClient, tokens: Tokens, route: Route) -> None:
    before = row_counts()
    r = route.call(api, tokens.view)
    assert r.status_code == route.viewer, r.text
    if route.write:
        assert "needs role operator" in r.json()["detail"]
        assert row_counts() == before


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_operator_may_do_everything(api: TestClient, tokens: Tokens, worker: Any,
                                    route: Route) -> None:
    if route.operator == 202:  # a recalculation needs a year with something to recalculate
        insert_entry(2025)
    r = route.call(api, tokens.op)
    assert r.status_code == route.operator, r.text
    if r.status_code == 202:
        # The token's name is recorded as the author of the work.
        job = api.get(f"/v1/sync/jobs/{r.json()['job_id']}", headers=tokens.op).json()
        assert job["created_by"] == "ops-alice"


def test_revoked_token_is_401(api: TestClient, tokens: Tokens) -> None:
    assert api.get("/v1/catalog/modules", headers=tokens.view).status_code == 200
    with session_scope() as s:
        revoke_token(s, "dash-bob")
    r = api.get("/v1/catalog/modules", headers=tokens.view)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_health_needs_no_token(api: TestClient) -> None:
    r = api.get("/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_auth_is_checked_before_the_body_is_read(api: TestClient, tokens: Tokens,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An oversize upload without a token, or from a viewer, is refused for who sent it
    (401 / 403), not for its size: the body is never read."""
    from carbon_domain.settings import get_settings
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 1000)
    big = {"file": ("u.csv", b"x" * 200_000, "text/csv")}
    assert api.post("/v1/sync/units", params={"year": 2025}, files=big).status_code == 401
    assert api.post("/v1/sync/units", params={"year": 2025}, files=big,
                    headers=tokens.view).status_code == 403
    assert api.post("/v1/sync/units", params={"year": 2025}, files=big,
                    headers=tokens.op).status_code == 413
    assert count(UploadedFile) == 0
