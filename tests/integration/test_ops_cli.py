"""Operations surface: the ``carbon`` ops commands, Flower behind basic auth, API tokens, and the
Docker deployment files (compose services are valid ``carbon`` invocations).

In-process tests use Typer's CliRunner and see conftest's environment (PostgreSQL test database,
Redis DB 11/12). Anything that needs another environment, or a real server, runs ``carbon`` in a
subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
import typer
import yaml
from typer.testing import CliRunner

from carbon_api.cli import app
from carbon_domain.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
runner = CliRunner()


# ------------------------------------------------------------------------------------ helpers

def carbon_argv() -> list[str]:
    exe = Path(sys.executable).with_name("carbon")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "carbon_api.cli"]


def child_env(**overrides: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_carbon(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*carbon_argv(), *args], capture_output=True, text=True, timeout=timeout,
        env=env or child_env(), cwd=cwd or ROOT,
    )


def assert_one_line_error(code: int, stderr: str, *fragments: str) -> str:
    assert code != 0
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got: {stderr!r}"
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_only(args: list[str]) -> click.Context:
    """Parse and type-check a full ``carbon`` command line without running it."""
    cmd: click.Command = typer.main.get_command(app)
    ctx = click.Context(cmd, info_name="carbon")
    rest = list(args)
    while isinstance(cmd, click.Group):
        assert rest, f"{args}: missing subcommand"
        sub = cmd.get_command(ctx, rest[0])
        assert sub is not None, f"{args}: unknown command {rest[0]!r}"
        ctx = click.Context(sub, info_name=rest[0], parent=ctx) if isinstance(
            sub, click.Group) else sub.make_context(rest[0], rest[1:], parent=ctx)
        cmd, rest = sub, rest[1:]
    return ctx


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def carbon_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items()
            if svc.get("image", "").startswith("carbon-pipeline") or "build" in svc}


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"process exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout}s: {log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# ------------------------------------------------------------------------------------ docker

REQUIRED_SERVICES = {"postgres", "rabbitmq", "redis", "migrate", "api", "worker-ingest",
                     "worker-recalc", "worker-aggregate", "beat", "flower"}


class TestComposeFile:
    def test_required_services_and_images(self) -> None:
        compose = load_compose()
        services = compose["services"]
        assert REQUIRED_SERVICES <= set(services)
        assert services["postgres"]["image"].startswith("postgres:15")
        assert services["redis"]["image"].startswith("redis:7")
        redis_cmd = services["redis"]["command"]
        assert redis_cmd[redis_cmd.index("--maxmemory-policy") + 1] == "noeviction"
        assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
        assert "ping" in services["redis"]["healthcheck"]["test"]
        assert services["rabbitmq"]["image"].startswith("rabbitmq:3.")
        assert "ping" in services["rabbitmq"]["healthcheck"]["test"]
        assert "/v1/health" in " ".join(services["api"]["healthcheck"]["test"])
        for name in carbon_services(compose):
            assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"

    def test_exactly_one_beat(self) -> None:
        compose = load_compose()
        beats = [name for name, svc in carbon_services(compose).items()
                 if svc["command"][0] == "beat"]
        assert beats == ["beat"]
        beat = compose["services"]["beat"]
        assert beat.get("scale", 1) == 1
        assert beat.get("deploy", {}).get("replicas", 1) == 1

    def test_workers_consume_every_queue(self) -> None:
        from carbon_api.cli.ops import known_queues
        consumed: dict[str, list[str]] = {}
        for name, svc in carbon_services(load_compose()).items():
            cmd = svc["command"]
            if cmd[0] == "worker":
                queues = cmd[cmd.index("--queues") + 1].split(",")
                consumed.update({q: [*consumed.get(q, []), name] for q in queues})
        assert set(consumed) == set(known_queues())
        assert consumed["ingest"] == ["worker-ingest"]
        assert consumed["recalc"] == ["worker-recalc"]
        assert consumed["finish"] == ["worker-recalc"]
        assert consumed["aggregate"] == ["worker-aggregate"]

    def test_worker_default_is_every_declared_queue(self) -> None:
        """`carbon worker` with no --queues consumes what celeryconfig declares; the default
        is spelled out for --help, so a queue added there must be added here too."""
        from carbon_api.cli.ops import DEFAULT_QUEUES, known_queues
        assert DEFAULT_QUEUES.split(",") == known_queues()

    def test_dependency_order(self) -> None:
        services = load_compose()["services"]
        assert services["migrate"]["command"] == ["db", "upgrade"]
        assert services["migrate"]["restart"] == "no"
        assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
        api_deps = services["api"]["depends_on"]
        assert api_deps["migrate"]["condition"] == "service_completed_successfully"
        assert api_deps["redis"]["condition"] == "service_healthy"
        assert api_deps["rabbitmq"]["condition"] == "service_healthy"
        for name, svc in carbon_services(load_compose()).items():
            if svc["command"][0] in ("worker", "beat", "flower"):
                assert svc["depends_on"]["rabbitmq"]["condition"] == "service_healthy", name
        for name, svc in services.items():
            for dep, spec in (svc.get("depends_on") or {}).items():
                if spec["condition"] == "service_healthy":
                    assert "healthcheck" in services[dep], f"{name} waits on {dep}'s health"
                if spec["condition"] == "service_completed_successfully":
                    assert services[dep].get("restart") == "no"

    def test_environment_anchor_matches_settings(self) -> None:
        compose = load_compose()
        x_env = compose["x-env"]
        # That each variable is one the code reads (a setting, or read before the settings:
        # CARBON_RELEASE, the worker's concurrency) is checked for every service's whole
        # environment in tests/unit/test_docker_files.py; here, that all share the anchor.
        for name, svc in carbon_services(compose).items():
            env = svc["environment"]
            assert {k: env[k] for k in x_env} == x_env, name
        flower_env = compose["services"]["flower"]["environment"]
        assert "CARBON_FLOWER_PASSWORD" in flower_env and "CARBON_FLOWER_USER" in flower_env

    def test_env_example_documents_every_variable_and_holds_no_secret(self) -> None:
        text = COMPOSE.read_text()
        used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))  # $${X}: container-side
        example = dotenv(DOCKER / ".env.example")
        assert used <= set(example), f"undocumented: {sorted(used - set(example))}"
        secrets_ = {k: v for k, v in example.items() if "PASSWORD" in k}
        assert secrets_ and all(v == "changethis" for v in secrets_.values())

    def test_production_rejects_the_example_placeholders(self) -> None:
        example = dotenv(DOCKER / ".env.example")
        with pytest.raises(ValueError, match="placeholder|real secret"):
            compose_settings(example)
        real = example | {"POSTGRES_PASSWORD": "pg-Xq81z", "CARBON_FLOWER_PASSWORD": "fl-9Vd2" * 2,
                          "RABBITMQ_PASSWORD": "pg-Xq81z" * 2, "REDIS_PASSWORD": "fl-9Vd2" * 3}
        settings = compose_settings(real)
        assert settings.environment == "production"
        for name in ("POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "REDIS_PASSWORD",
                     "CARBON_FLOWER_PASSWORD"):
            with pytest.raises(ValueError, match="placeholder|real secret"):
                compose_settings(real | {name: example[name]})
        with pytest.raises(ValueError, match="at least 12"):
            compose_settings(real | {"CARBON_FLOWER_PASSWORD": "fl-9Vd2"})

    def test_rabbitmq_is_the_broker_and_redis_the_result_backend(self) -> None:
        """The broker is the rabbitmq service, with its credentials and vhost from the
        environment; Redis keeps the chord results and requires a password."""
        compose = load_compose()
        env = {"POSTGRES_PASSWORD": "p" * 16, "RABBITMQ_PASSWORD": "r" * 16,
               "REDIS_PASSWORD": "d" * 16, "CARBON_FLOWER_PASSWORD": "f" * 16,
               "RABBITMQ_USER": "ops", "RABBITMQ_VHOST": "prod"}
        x_env = {k: interpolate(str(v), env) for k, v in compose["x-env"].items()}
        assert x_env["CELERY_BROKER_URL"] == f"amqp://ops:{'r' * 16}@rabbitmq:5672/prod"
        assert x_env["CELERY_RESULT_BACKEND"] == f"redis://:{'d' * 16}@redis:6379/1"
        rabbit = {k: interpolate(str(v), env)
                  for k, v in compose["services"]["rabbitmq"]["environment"].items()}
        assert rabbit == {"RABBITMQ_DEFAULT_USER": "ops", "RABBITMQ_DEFAULT_PASS": "r" * 16,
                          "RABBITMQ_DEFAULT_VHOST": "prod"}
        assert "rabbitmqdata" in compose["volumes"]
        redis = compose["services"]["redis"]
        cmd = [interpolate(part, env) for part in redis["command"]]
        assert cmd[cmd.index("--requirepass") + 1] == "d" * 16
        assert interpolate(redis["environment"]["REDISCLI_AUTH"], env) == "d" * 16
        # Without the secrets compose refuses to start at all.
        for missing in ("RABBITMQ_PASSWORD", "REDIS_PASSWORD"):
            with pytest.raises(AssertionError, match="compose would refuse"):
                compose_settings({k: v for k, v in env.items() if k != missing})
        settings = compose_settings(env | {"CARBON_ENV": "production"})
        assert settings.amqp_broker and settings.environment == "production"

    @pytest.mark.parametrize("service", sorted(REQUIRED_SERVICES - {"postgres", "rabbitmq",
                                                                     "redis"}))
    def test_service_command_is_a_valid_carbon_invocation(self, service: str) -> None:
        svc = load_compose()["services"][service]
        command = svc["command"]
        assert all("$" not in part for part in command)
        parse_only(command)  # options exist and their values type-check
        proc = run_carbon(*command, "--help")
        assert proc.returncode == 0, proc.stderr
        assert "Usage: carbon" in proc.stdout

    def test_dockerfile_entry_point(self) -> None:
        text = (DOCKER / "Dockerfile").read_text()
        assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
        assert re.search(r'^ENTRYPOINT \["carbon"\]', text, re.M)
        assert re.search(r"pip install .*\.\s*(\\|&&|$)", text, re.M)
        users = re.findall(r"^USER (\S+)", text, re.M)
        assert users and users[-1] not in ("root", "0")
        pyproject = (ROOT / "pyproject.toml").read_text()
        assert 'carbon = "carbon_api.cli:app"' in pyproject
        for directory in ("carbon_domain", "carbon_tasks", "carbon_api", "migrations"):
            assert f"COPY {directory} " in text


def dotenv(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(value: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"compose would refuse: {arg}")
        return arg or ""
    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", sub, value)


def compose_settings(dotenv_values: dict[str, str]) -> Settings:
    """The Settings a carbon container would build from compose's x-env and this .env."""
    x_env = load_compose()["x-env"]
    return Settings(**{k: interpolate(str(v), dotenv_values) for k, v in x_env.items()})


# ------------------------------------------------------------------------------------ flower

@pytest.mark.integration
class TestFlower:
    def test_basic_auth(self, services: None, tmp_path: Path) -> None:
        port, password = free_port(), "flower-test-Pw7"
        log = tmp_path / "flower.log"
        env = child_env(CARBON_FLOWER_USER="ops", CARBON_FLOWER_PASSWORD=password,
                        CARBON_ENV="development")
        with log.open("wb") as out:
            proc = subprocess.Popen([*carbon_argv(), "flower", "--port", str(port)], env=env,
                                    stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/healthcheck", proc, log)
            assert httpx.get(f"{base}/", timeout=10).status_code == 401
            assert httpx.get(f"{base}/", auth=("ops", "wrong"), timeout=10).status_code == 401
            assert httpx.get(f"{base}/", auth=("ops", password), timeout=10).status_code == 200
            workers = httpx.get(f"{base}/api/workers", auth=("ops", password), timeout=10)
            assert workers.status_code == 200
            # The password travels by environment, never on a command line `ps` shows.
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
            assert password.encode() not in cmdline
        finally:
            stop(proc)

    def test_development_without_password_generates_one(self, services: None,
                                                        tmp_path: Path) -> None:
        port = free_port()
        out_path, err_path = tmp_path / "out.log", tmp_path / "err.log"
        env = child_env(CARBON_FLOWER_PASSWORD=None, CARBON_ENV="development",
                        CARBON_FLOWER_USER="admin")
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.Popen([*carbon_argv(), "flower", "--port", str(port)], env=env,
                                    stdout=out, stderr=err, cwd=tmp_path)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthcheck", proc, err_path)
            m = re.search(r"password (\S+)", out_path.read_text())
            assert m, out_path.read_text()
            url = f"http://127.0.0.1:{port}/"
            assert httpx.get(url, timeout=10).status_code == 401
            assert httpx.get(url, auth=("admin", m.group(1)), timeout=10).status_code == 200
            assert out_path.read_text().count(m.group(1)) == 1
        finally:
            stop(proc)

    def test_production_without_password_is_one_clear_error(self, services: None) -> None:
        proc = run_carbon("flower", env=child_env(CARBON_ENV="production",
                                                  CARBON_FLOWER_PASSWORD=None))
        assert_one_line_error(proc.returncode, proc.stderr, "CARBON_FLOWER_PASSWORD")

    def test_embedded_broker_is_refused(self) -> None:
        proc = run_carbon("flower", env=child_env(CELERY_BROKER_URL="memory://"))
        assert_one_line_error(proc.returncode, proc.stderr, "CELERY_BROKER_URL")


# ------------------------------------------------------------------------------------ tokens

@pytest.mark.integration
class TestTokens:
    def test_create_stores_only_the_hash(self, db: str) -> None:
        from sqlalchemy import select

        from carbon_domain.db.models import ApiToken
        from carbon_domain.db.session import session_scope
        from carbon_domain.services.access.tokens import verify_token

        result = runner.invoke(app, ["tokens", "create", "--name", "x", "--role", "operator"])
        assert result.exit_code == 0, result.output
        token = result.stdout.strip().splitlines()[-1]
        assert re.fullmatch(r"cbn_[A-Za-z0-9_-]{43}", token)

        with session_scope() as s:
            row = s.scalars(select(ApiToken)).one()
            assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
            assert all(token not in str(getattr(row, c.key))
                       for c in ApiToken.__table__.columns)
            assert row.last_used_at is None
            info = verify_token(s, token)
            assert info is not None and (info.name, info.role.value) == ("x", "operator")
            assert verify_token(s, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
            assert verify_token(s, "cbn_" + "a" * 43) is None
            assert verify_token(s, "") is None and verify_token(s, "not a token") is None
        with session_scope() as s:
            assert s.scalars(select(ApiToken)).one().last_used_at is not None

        listed = runner.invoke(app, ["tokens", "list", "--json"])
        assert listed.exit_code == 0
        rows = json.loads(listed.stdout)
        assert [(r["name"], r["role"], r["revoked"]) for r in rows] == [("x", "operator", False)]
        assert token not in listed.stdout and "hash" not in listed.stdout

        revoked = runner.invoke(app, ["tokens", "revoke", "x"])
        assert revoked.exit_code == 0, revoked.output
        with session_scope() as s:
            assert verify_token(s, token) is None

    def test_service_on_sqlite_touches_last_used_at_at_most_once_a_minute(
            self, tmp_path: Path) -> None:
        from datetime import timedelta

        from sqlalchemy import select, update
        from sqlalchemy.orm import Session

        from carbon_domain.db import migrate
        from carbon_domain.db.models import ApiToken
        from carbon_domain.db.session import engine_for
        from carbon_domain.services.access.tokens import (
            TOUCH_INTERVAL,
            create_token,
            list_tokens,
            revoke_token,
            verify_token,
        )

        url = f"sqlite:///{tmp_path / 'tokens.db'}"
        migrate.upgrade(url)
        engine = engine_for(url)
        with Session(engine) as s, s.begin():
            token = create_token(s, "svc", "viewer")
            with pytest.raises(ValueError, match="already exists"):
                create_token(s, "svc", "operator")
        with Session(engine) as s, s.begin():
            assert verify_token(s, token) is not None
        with Session(engine) as s, s.begin():
            first = s.scalar(select(ApiToken.last_used_at))
            assert first is not None
            assert verify_token(s, token) is not None
        with Session(engine) as s, s.begin():
            assert s.scalar(select(ApiToken.last_used_at)) == first  # within the interval
            s.execute(update(ApiToken).values(
                last_used_at=first - TOUCH_INTERVAL - timedelta(seconds=1)))
        with Session(engine) as s, s.begin():
            assert verify_token(s, token) is not None
        with Session(engine) as s, s.begin():
            assert s.scalar(select(ApiToken.last_used_at)) > first - TOUCH_INTERVAL
            assert revoke_token(s, "svc") is True
            assert revoke_token(s, "svc") is False
            assert [t.revoked for t in list_tokens(s)] == [True]
            assert list_tokens(s, include_revoked=False) == []
            assert verify_token(s, token) is None
        engine.dispose()

    def test_duplicate_name_is_one_clear_line(self, db: str) -> None:
        first = runner.invoke(app, ["tokens", "create", "--name", "dup", "--role", "viewer"])
        assert first.exit_code == 0
        again = runner.invoke(app, ["tokens", "create", "--name", "dup", "--role", "operator"])
        assert again.exception is None or isinstance(again.exception, SystemExit)
        assert_one_line_error(again.exit_code, again.stderr, "already exists", "dup")
        assert again.stdout.strip() == ""

    @pytest.mark.parametrize("role", ["admin", "", "Operator2"])
    def test_bad_role_is_one_clear_line(self, db: str, role: str) -> None:
        result = runner.invoke(app, ["tokens", "create", "--name", "r", "--role", role])
        assert_one_line_error(result.exit_code, result.stderr, "role", "viewer", "operator")

    def test_revoke_unknown_token(self, db: str) -> None:
        result = runner.invoke(app, ["tokens", "revoke", "ghost"])
        assert_one_line_error(result.exit_code, result.stderr, "no token named 'ghost'")

    def test_unreachable_database_is_one_clear_line(self) -> None:
        url = "postgresql+psycopg2://carbon:hunter2-secret@127.0.0.1:1/carbon"
        proc = run_carbon("tokens", "list", env=child_env(CARBON_DATABASE_URL=url))
        line = assert_one_line_error(proc.returncode, proc.stderr, "cannot reach database at")
        assert "hunter2-secret" not in proc.stderr + proc.stdout
        assert "127.0.0.1:1" in line


# ------------------------------------------------------------------------------------ db

class TestDbCommands:
    def test_upgrade_current_on_sqlite(self, tmp_path: Path) -> None:
        from sqlalchemy import create_engine, inspect

        from carbon_domain.db import migrate
        from carbon_domain.db.models import Base

        url = f"sqlite:///{tmp_path / 'cli.db'}"
        env = child_env(CARBON_DATABASE_URL=url, CELERY_BROKER_URL="memory://",
                        CELERY_RESULT_BACKEND="cache+memory://")
        heads = migrate.current_heads(url)

        before = run_carbon("db", "current", "--check", env=env, cwd=tmp_path)
        assert before.returncode == 1 and "carbon db upgrade" in before.stdout

        up = run_carbon("db", "upgrade", env=env, cwd=tmp_path)
        assert up.returncode == 0, up.stderr
        engine = create_engine(url)
        tables = set(inspect(engine).get_table_names())
        engine.dispose()
        assert {t.name for t in Base.metadata.sorted_tables} <= tables

        current = run_carbon("db", "current", env=env, cwd=tmp_path)
        assert current.returncode == 0, current.stderr
        assert all(f"{h} (head)" in current.stdout for h in heads)
        as_json = json.loads(run_carbon("db", "current", "--json", env=env, cwd=tmp_path).stdout)
        assert as_json["current"] == list(heads) and as_json["up_to_date"] is True
        assert run_carbon("db", "current", "--check", env=env, cwd=tmp_path).returncode == 0

        # The embedded database also serves tokens; the token is the console script's last line.
        created = run_carbon("tokens", "create", "--name", "local", "--role", "viewer",
                             env=env, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        assert created.stdout.strip().splitlines()[-1].startswith("cbn_")

    def test_unknown_revision_is_one_clear_line(self, tmp_path: Path) -> None:
        env = child_env(CARBON_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}")
        proc = run_carbon("db", "upgrade", "--revision", "nope", env=env, cwd=tmp_path)
        assert_one_line_error(proc.returncode, proc.stderr, "nope")

    def test_not_migrated_database_is_one_clear_line(self, tmp_path: Path) -> None:
        env = child_env(CARBON_DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
        proc = run_carbon("tokens", "list", env=env, cwd=tmp_path)
        assert_one_line_error(proc.returncode, proc.stderr, "carbon db upgrade")


# ------------------------------------------------------------------------------------ worker, beat

class TestWorkerAndBeat:
    @pytest.mark.parametrize("command", [["worker"], ["beat"], ["flower"], ["api"],
                                         ["db", "upgrade"], ["tokens", "create"]])
    def test_help(self, command: list[str]) -> None:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage: carbon" in result.stdout

    def test_no_args_shows_help(self) -> None:
        result = runner.invoke(app, [])
        for name in ("api", "worker", "beat", "flower", "db", "tokens"):
            assert name in result.output

    def test_unknown_queue_is_one_clear_line(self) -> None:
        result = runner.invoke(app, ["worker", "--queues", "ingest,bogus"])
        assert_one_line_error(result.exit_code, result.stderr, "unknown queue 'bogus'",
                              "ingest", "recalc", "finish", "aggregate")

    def test_bad_log_level_is_one_clear_line(self) -> None:
        result = runner.invoke(app, ["worker", "--loglevel", "loud"])
        assert_one_line_error(result.exit_code, result.stderr, "log level")

    def test_worker_needs_a_shared_broker(self) -> None:
        proc = run_carbon("worker", env=child_env(CELERY_BROKER_URL="memory://"))
        assert_one_line_error(proc.returncode, proc.stderr, "CELERY_BROKER_URL")

    @pytest.mark.integration
    def test_second_beat_is_refused(self, db: str) -> None:
        """The beat lock is a PostgreSQL advisory lock (either broker): while another
        session named "other-host:42" holds it, a second beat names it and exits."""
        from carbon_domain.db.leader import LeaderLock

        other = LeaderLock(db, "other-host:42")
        assert other.try_acquire()
        try:
            # A subprocess with a timeout: should the lock vanish, a started beat cannot hang
            # the test run.
            proc = run_carbon("beat", "--lock-wait", "0", timeout=60)
            assert_one_line_error(proc.returncode, proc.stderr, "another `carbon beat`",
                                  "other-host:42")
        finally:
            other.release()
        assert LeaderLock(db, "probe").holder() is None

    def test_unreachable_broker_is_one_clear_line(self) -> None:
        proc = run_carbon("beat", "--lock-wait", "0", env=child_env(
            CELERY_BROKER_URL="redis://:brokerpw@127.0.0.1:1/0"))
        line = assert_one_line_error(proc.returncode, proc.stderr, "cannot reach broker at")
        assert "brokerpw" not in line


# ------------------------------------------------------------------------------------ api

@pytest.mark.integration
def test_health_endpoint(db: str) -> None:
    from fastapi.testclient import TestClient

    from carbon_api.app import create_app

    response = TestClient(create_app()).get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
