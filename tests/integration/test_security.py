"""Security (issue 8 item 6): tokens stored hashed and compared in constant time; every route
but health rejects a missing token; viewers cannot write; Flower behind basic auth; secrets
only from the environment and none in the repository.

The route checks are generated from the live OpenAPI document (and a walk of the app's
routes for anything left out of it), so a route added later is covered without editing
this file. Whether any input makes the API answer 5xx is ``test_api_schemathesis``'s job.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text

from carbon_domain.db.models import Base
from carbon_domain.db.session import session_scope
from carbon_domain.services.access import tokens as token_service
from carbon_domain.services.access.tokens import create_token, revoke_token, verify_token
from carbon_domain.settings import PLACEHOLDER_SECRETS, Settings
from tests.conftest import production_urls

from .api_support import Tokens, wait_idle
from .test_hostile_input import counts
from .test_ops_cli import (
    assert_one_line_error,
    carbon_argv,
    child_env,
    free_port,
    run_carbon,
    stop,
    wait_http,
)

pytestmark = [pytest.mark.fault, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
PID = "00000000-0000-4000-8000-000000000000"
# Routes that are public on purpose: liveness, and FastAPI's API documentation pages.
PUBLIC = {"/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
UNITS_CSV = ("institutional_code,institutional_id,name,level,parent_institutional_code\n"
             "LAB-S,US,Lab S,4,\n")


@pytest.fixture(scope="module")
def client(pg_database: str, worker: Any) -> Iterator[TestClient]:
    from carbon_api.app import app
    with TestClient(app, raise_server_exceptions=True) as c:
        yield c
    wait_idle()


@pytest.fixture
def tokens(db: str) -> Tokens:
    with session_scope() as s:
        return Tokens(operator=create_token(s, "sec-ops", "operator"),
                      viewer=create_token(s, "sec-view", "viewer"))


# -- the routes, from the OpenAPI document -------------------------------------------------

@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    path: str
    params: dict[str, Any]
    upload: bool

    def call(self, client: TestClient, headers: dict[str, str], *,
             with_params: bool = True) -> httpx.Response:
        kw: dict[str, Any] = {"headers": headers}
        if with_params:
            kw["params"] = self.params
        if self.upload:
            kw["files"] = {"file": ("units.csv", UNITS_CSV.encode(), "text/csv")}
        return client.request(self.method, self.path, **kw)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return {**spec["components"]["schemas"][name], **{k: v for k, v in schema.items()
                                                          if k != "$ref"}}
    if "anyOf" in schema:
        return _resolve(next(s for s in schema["anyOf"] if s.get("type") != "null"), spec)
    return schema


def _value(name: str, schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A valid value for a parameter: its example, else one its schema allows."""
    s = _resolve(schema, spec)
    if s.get("examples"):
        return s["examples"][0]
    if s.get("enum"):
        return s["enum"][0]
    if s.get("format") == "uuid":
        return PID
    if s.get("type") == "integer":
        return max(1, int(s.get("minimum", 1)))
    if s.get("type") == "boolean":
        return False
    return "x"


def operations(spec: dict[str, Any]) -> list[Operation]:
    out = []
    for template, methods in spec["paths"].items():
        for method, op in methods.items():
            path, params = template, {}
            for p in op.get("parameters", []):
                if p["in"] == "path":
                    path = path.replace("{" + p["name"] + "}",
                                        str(_value(p["name"], p["schema"], spec)))
                elif p["in"] == "query" and p.get("required"):
                    params[p["name"]] = _value(p["name"], p["schema"], spec)
            upload = "multipart/form-data" in op.get("requestBody", {}).get("content", {})
            out.append(Operation(method.upper(), template, path, params, upload))
    return out


def _spec() -> dict[str, Any]:
    from carbon_api.app import app
    return app.openapi()


OPERATIONS = operations(_spec())
PROTECTED = [o for o in OPERATIONS if o.template not in PUBLIC]
WRITES = [o for o in PROTECTED if o.method in ("POST", "PUT", "PATCH", "DELETE")]


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """Every (path, methods) the app serves, through included routers."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:  # FastAPI's lazily included router
            ctx = getattr(r, "include_context", None)
            yield from _walk(inner.routes, prefix + (getattr(ctx, "prefix", "") or ""))
        elif hasattr(r, "routes") and not hasattr(r, "endpoint"):  # a Mount
            yield from _walk(r.routes, prefix + getattr(r, "path", ""))
        else:
            yield prefix + r.path, set(getattr(r, "methods", None) or {"GET"})


def test_every_served_route_is_documented_or_deliberately_public() -> None:
    """An undocumented route would escape the generated checks below: there is none, and
    the only public routes are health and the API documentation."""
    from carbon_api.app import app
    from carbon_api.console import is_console_path
    served = {(m, p) for p, methods in _walk(app.routes) for m in methods if m != "HEAD"}
    # The console's HTML routes use the session cookie instead of bearer tokens: each is
    # checked by tests/console/test_console_auth.py::test_every_console_route_needs_a_session.
    served = {(m, p) for m, p in served if not is_console_path(p)}
    documented = {(o.method, o.template) for o in OPERATIONS}
    assert documented <= served, documented - served  # the walk sees everything
    assert {p for _, p in served - documented} <= PUBLIC
    assert len(PROTECTED) == len(OPERATIONS) - 1 and len(WRITES) >= 7


def test_the_document_declares_bearer_auth_on_every_protected_operation() -> None:
    spec = _spec()
    for o in OPERATIONS:
        security = spec["paths"][o.template][o.method.lower()].get("security")
        if o.template in PUBLIC:
            assert not security, o
        else:
            assert security == [{"bearer": []}], o
            responses = spec["paths"][o.template][o.method.lower()]["responses"]
            assert "401" in responses, o


@pytest.mark.parametrize("op", PROTECTED, ids=str)
def test_missing_token_is_401(client: TestClient, op: Operation) -> None:
    before = counts()
    for with_params in (True, False):  # refused before any validation, too
        r = op.call(client, {}, with_params=with_params)
        assert r.status_code == 401, (with_params, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert counts() == before


def test_malformed_tokens_are_401_everywhere(client: TestClient, tokens: Tokens) -> None:
    revoked = tokens.viewer
    with session_scope() as s:
        revoke_token(s, "sec-view")
    good = tokens.operator
    bad = {
        "revoked": f"Bearer {revoked}",
        "near miss": f"Bearer {good[:-1]}{'A' if good[-1] != 'A' else 'B'}",
        "truncated": f"Bearer {good[:-1]}",
        "extended": f"Bearer {good}A",
        "its hash": f"Bearer {hashlib.sha256(good.encode()).hexdigest()}",
        "prefix only": "Bearer cbn_",
        "lower-case scheme, truncated": f"bearer   {good[:-2]}",
        "basic": "Basic b3BzOnNlY3JldA==",
        "huge": "Bearer cbn_" + "A" * 20_000,
    }
    before = counts()
    for op in PROTECTED:
        for name, header in bad.items():
            r = op.call(client, {"Authorization": header})
            assert r.status_code == 401, (str(op), name, r.text)
    assert counts() == before
    # The genuine token still works (the scheme name is case-insensitive).
    assert client.get("/v1/catalog/modules", headers={"Authorization": f"bearer {good}"}
                      ).status_code == 200


@pytest.mark.parametrize("op", WRITES, ids=str)
def test_viewer_cannot_write(client: TestClient, tokens: Tokens, op: Operation) -> None:
    """With a request an operator could make (a valid CSV, valid ids): 403, nothing written."""
    before = counts()
    r = op.call(client, tokens.view)
    assert r.status_code == 403, r.text
    assert "needs role operator" in r.json()["detail"]
    assert counts() == before


def test_operator_passes_the_role_check_of_every_write(client: TestClient,
                                                       tokens: Tokens) -> None:
    """The viewer's 403 is the role check, not something about the request: the same
    requests from an operator are never 401/403 (harmless ids; they may start work)."""
    for op in WRITES:
        r = op.call(client, tokens.op)
        assert r.status_code not in (401, 403) and r.status_code < 500, (str(op), r.text)
    wait_idle()


# -- tokens: hashed at rest, compared in constant time --------------------------------------

def test_the_database_holds_no_plaintext_token(client: TestClient, tokens: Tokens,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # Use the tokens: last_used_at is written, an upload records its author.
    assert client.get("/v1/catalog/modules", headers=tokens.view).status_code == 200
    r = client.post("/v1/sync/units", params={"year": 2025}, headers=tokens.op,
                    files={"file": ("u.csv", UNITS_CSV.encode(), "text/csv")})
    assert r.status_code == 202, r.text
    wait_idle()
    with session_scope() as s:
        stored = dict(s.execute(text("SELECT name, token_hash FROM api_tokens")).all())
        dump = "".join(
            s.scalar(text(f'SELECT coalesce(string_agg(t::text, \'\'), \'\') FROM "{t.name}" t'))
            for t in Base.metadata.sorted_tables)
    assert stored == {"sec-ops": hashlib.sha256(tokens.operator.encode()).hexdigest(),
                      "sec-view": hashlib.sha256(tokens.viewer.encode()).hexdigest()}
    assert "sec-ops" in dump  # the dump is real: it holds the upload's author
    for token in (tokens.operator, tokens.viewer):
        secret = token.removeprefix(token_service.TOKEN_PREFIX)
        assert secret not in dump
        for record in caplog.records:
            assert secret not in record.getMessage() and secret not in str(record.__dict__)
    assert "token_hash" not in {f for f in token_service.TokenRecord.__dataclass_fields__}


def test_created_tokens_are_random_and_well_formed(db: str) -> None:
    with session_scope() as s:
        made = [create_token(s, f"t{i}", "viewer") for i in range(5)]
    assert len(set(made)) == 5
    for t in made:
        assert re.fullmatch(r"cbn_[A-Za-z0-9_-]{43}", t)


def test_verify_token(db: str) -> None:
    with session_scope() as s:
        op = create_token(s, "v-ops", "operator")
        view = create_token(s, "v-view", "viewer")
        gone = create_token(s, "v-gone", "viewer")
        revoke_token(s, "v-gone")
    flip = {c: "B" if c == "A" else "A" for c in op}
    near_misses = [op[:-1] + flip[op[-1]], op[:4] + flip[op[4]] + op[5:], op[:-1], op + "A",
                   op.upper(), op.replace("cbn_", "CBN_"), op.swapcase(), " " + op, op + "\n",
                   op + "\x00", hashlib.sha256(op.encode()).hexdigest(), view[:20] + op[20:]]
    with session_scope() as s:
        assert verify_token(s, op) == token_service.TokenInfo("v-ops", token_service.Role.operator)
        assert verify_token(s, view).role == token_service.Role.viewer  # type: ignore[union-attr]
        assert verify_token(s, gone) is None
        assert verify_token(s, "cbn_" + secrets.token_urlsafe(32)) is None
        for candidate in near_misses:
            assert verify_token(s, candidate) is None, candidate
        # A role the code does not know (a tampered row) grants nothing.
        s.execute(text("UPDATE api_tokens SET role = 'admin' WHERE name = 'v-view'"))
        assert verify_token(s, view) is None


@pytest.mark.parametrize("malformed", [
    None, "", "cbn_", "not-a-token", "cbn_" + "A" * 31, "cbn_" + "A" * 65, "cbn_" + "é" * 43,
    "cbn_" + "A" * 42 + "/", "cbn_" + "A" * 10_000, 12345, b"cbn_" + b"A" * 43, ["cbn_"],
], ids=lambda v: repr(v)[:24])
def test_malformed_tokens_never_reach_the_database(malformed: Any) -> None:
    class NoDatabase:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"verify_token touched the session ({name}) for {malformed!r}")
    assert verify_token(NoDatabase(), malformed) is None  # type: ignore[arg-type]


def test_the_digest_comparison_is_constant_time(db: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored and computed digests are compared with ``hmac.compare_digest`` (and the
    lookup itself is by a SHA-256 digest, so its timing says nothing about the token)."""
    source = inspect.getsource(verify_token)
    assert "hmac.compare_digest(row.token_hash, digest)" in source
    assert not re.search(r"row\.token_hash\s*[!=]=|[!=]=\s*row\.token_hash", source)
    assert ".where(ApiToken.token_hash == digest)" in source  # the lookup is by digest
    calls: list[tuple[str, str]] = []
    real = token_service.hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)
    monkeypatch.setattr(token_service.hmac, "compare_digest", spy)
    with session_scope() as s:
        token = create_token(s, "ct", "viewer")
        assert verify_token(s, token) is not None
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert calls == [(digest, digest)]


# -- Flower ---------------------------------------------------------------------------------

FLOWER_PAGES = ("/", "/workers", "/tasks", "/broker", "/api/workers", "/api/tasks",
                "/api/task/types", "/api/queues/length")


def test_flower_requires_basic_auth(services: None, tmp_path: Path) -> None:
    """Production settings, a generated password: every page and API call is 401 without
    the right credentials, including the API that would run a task."""
    user = "ops"
    password = secrets.token_urlsafe(16)
    port, log = free_port(), tmp_path / "flower.log"
    env = child_env(CARBON_ENV="production", CARBON_FLOWER_USER=user,
                    CARBON_FLOWER_PASSWORD=password, **production_urls())
    with log.open("wb") as out:
        proc = subprocess.Popen([*carbon_argv(), "flower", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthcheck", proc, log)
        wrong = [None, (user, "wrong"), ("admin", password), (user, password[:-1]),
                 (user.upper(), password)]
        for page in FLOWER_PAGES:
            for auth in wrong:
                r = httpx.get(base + page, auth=auth, timeout=10)
                assert r.status_code == 401, (page, auth and auth[0], r.status_code)
                if not page.startswith("/api/"):  # pages challenge; Flower's API does not
                    assert r.headers.get("www-authenticate", "").lower().startswith("basic")
            r = httpx.get(base + page, auth=(user, password), timeout=10)
            assert r.status_code == 200, (page, r.status_code)
        r = httpx.post(f"{base}/api/task/async-apply/carbon.ingest_units", json={"args": [1]},
                       timeout=10)
        assert r.status_code == 401
        assert password.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    finally:
        stop(proc)
    assert password not in log.read_text(errors="replace")


@pytest.mark.parametrize("placeholder", ["changethis", "admin"])
def test_flower_refuses_a_placeholder_password_in_production(services: None,
                                                             placeholder: str) -> None:
    proc = run_carbon("flower", env=child_env(CARBON_ENV="production",
                                              CARBON_FLOWER_PASSWORD=placeholder), timeout=60)
    assert_one_line_error(proc.returncode, proc.stderr, "CARBON_FLOWER_PASSWORD")


# -- secrets --------------------------------------------------------------------------------

def _production(**overrides: str | None) -> Settings:
    real = secrets.token_urlsafe(12)
    values: dict[str, str | None] = {
        "CARBON_ENV": "production",
        "CARBON_DATABASE_URL": f"postgresql+psycopg2://carbon:{real}@db:5432/carbon",
        "CELERY_BROKER_URL": f"redis://:{real}@redis:6379/0",
        "CELERY_RESULT_BACKEND": f"redis://:{real}@redis:6379/1",
        "CARBON_FLOWER_PASSWORD": secrets.token_urlsafe(12),
    }
    values.update(overrides)
    return Settings(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


def test_production_settings_refuse_default_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARBON_FLOWER_PASSWORD", raising=False)
    ok = _production()
    assert ok.environment == "production"
    refused = {
        "no Flower password": {"CARBON_FLOWER_PASSWORD": None},
        **{f"Flower password {p!r}": {"CARBON_FLOWER_PASSWORD": p}
           for p in sorted(PLACEHOLDER_SECRETS)},
        "database password changethis": {
            "CARBON_DATABASE_URL": "postgresql+psycopg2://carbon:changethis@db/carbon"},
        "broker password changethis": {"CELERY_BROKER_URL": "redis://:changethis@redis:6379/0"},
        "result backend password changethis": {
            "CELERY_RESULT_BACKEND": "redis://:changethis@redis:6379/1"},
        "embedded database": {"CARBON_DATABASE_URL": "sqlite:///carbon.db"},
        "embedded broker": {"CELERY_BROKER_URL": "memory://"},
    }
    for name, overrides in refused.items():
        with pytest.raises(ValidationError):
            _production(**overrides)
            pytest.fail(f"production accepted {name}")
    assert {"changethis", "admin", ""} <= PLACEHOLDER_SECRETS


def test_secrets_come_from_the_environment_only(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """No .env file is read (a stray one in the working directory is ignored), the Flower
    password is a SecretStr that never shows in a repr or a dump, and docker/.env is
    ignored by git."""
    assert Settings.model_config.get("env_file") is None
    secret = secrets.token_urlsafe(16)
    (tmp_path / ".env").write_text(f"CARBON_FLOWER_PASSWORD={secrets.token_urlsafe(8)}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARBON_FLOWER_PASSWORD", raising=False)
    assert Settings().flower_password is None
    monkeypatch.setenv("CARBON_FLOWER_PASSWORD", secret)
    s = Settings()
    assert s.flower_password is not None and s.flower_password.get_secret_value() == secret
    for shown in (repr(s), str(s), s.model_dump_json(), str(s.model_dump())):
        assert secret not in shown
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=ROOT)
    assert ignored.returncode == 0


# Values that look like secrets but are documented placeholders or deliberately fake test
# fixtures (each used only against a throwaway local service or to check masking).
# "guest": RabbitMQ's documented default account (loopback only; production refuses it).
PLACEHOLDERS = {"changethis", "pw", "password", "secret", "xxx", "...", "<password>", "guest"}
TEST_FIXTURE_SECRETS = {"s3cret", "hunter2-secret", "pg-Xq81z", "fl-9Vd2", "brokerpw"}
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "API token": re.compile(r"\bcbn_[A-Za-z0-9_-]{32,}"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key": re.compile(r"aws_secret_access_key\s*[:=]\s*\S{20,}", re.I),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    "Slack token": re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),
}
# Quoted assignments to a password / secret / api_key name, PASSWORD=value lines (outside
# Python, where keyword arguments look the same), and URLs like scheme://user:PASSWORD@host.
ENV_STYLE = 1
LITERALS = [
    re.compile(r"""(?i)\b\w*(?:password|passwd|secret|api_?key)\w*["']?\s*[:=]\s*"""
               r"""["']([^"'\s]{3,})["']"""),
    re.compile(r"""(?m)^\s*(?:export\s+)?[A-Z0-9_]*(?:PASSWORD|SECRET|API_KEY)[A-Z0-9_]*"""
               r"""\s*[=:]\s*([^\s#"'$]+)\s*$"""),
    re.compile(r"""[a-z][a-z0-9+.-]*://[^/\s:@'"]*:([^@/\s'"]+)@"""),
]


def _is_placeholder(value: str, path: str) -> bool:
    v = value.strip("\"'")
    if v.lower() in PLACEHOLDERS or v.startswith(("$", "{", "<", "%")):
        return True  # a documented placeholder, an interpolation or a template field
    return path.startswith("tests/") and v in TEST_FIXTURE_SECRETS


def test_no_secret_in_the_repository() -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    files = [f for f in files if f and (ROOT / f).is_file()]
    assert len(files) > 50
    found = []
    for path in files:
        raw = (ROOT / path).read_bytes()
        if b"\0" in raw[:8192]:
            continue  # binary
        content = raw.decode("utf-8", errors="replace")
        for what, pattern in SECRET_PATTERNS.items():
            found += [f"{path}: {what}: {m.group(0)[:24]}…" for m in pattern.finditer(content)]
        for i, pattern in enumerate(LITERALS):
            if i == ENV_STYLE and path.endswith(".py"):
                continue  # keyword arguments look like env lines; quoted literals are caught
            for m in pattern.finditer(content):
                if not _is_placeholder(m.group(1), path):
                    found.append(f"{path}: {m.group(0)[:80]}")
    assert not found, "secret-looking literals in tracked files:\n" + "\n".join(found)


def test_the_scanner_finds_what_it_should() -> None:
    """The patterns above, on made-up samples (built at run time, so this file itself holds
    no secret-looking literal)."""
    token = "cbn_" + secrets.token_urlsafe(32)
    key = "-----BEGIN " + "RSA PRIVATE KEY-----"
    aws = "AKIA" + "ABCDEFGHIJKLMNOP"
    for sample, what in ((token, "API token"), (key, "private key"), (aws, "AWS access key")):
        assert SECRET_PATTERNS[what].search(f"x = '{sample}'"), what
    leaked = secrets.token_urlsafe(9)
    for sample in (f'password = "{leaked}"', f"POSTGRES_PASSWORD={leaked}",
                   f"postgresql://carbon:{leaked}@db/carbon", f"api_key: '{leaked}'"):
        hits = [m.group(1) for p in LITERALS for m in p.finditer(sample)]
        assert hits and not all(_is_placeholder(h, "carbon_api/x.py") for h in hits), sample
    for sample in ("POSTGRES_PASSWORD=changethis", "password=u.password",
                   "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD:?set it}@postgres/db",
                   "postgresql+psycopg2://user:pw@host/db"):
        hits = [m.group(1) for p in LITERALS for m in p.finditer(sample)]
        assert all(_is_placeholder(h, "docker/compose.yaml") for h in hits), (sample, hits)
