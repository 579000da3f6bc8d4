"""docker/ against the code, without a Docker engine: the image copies what `pip install .`
reads, compose runs only `carbon` commands and options that exist with settings the code
reads, labels each build's workers, and runs Prometheus where docker/prometheus/prometheus.yml
looks for its token.

The image did not build: after the switch to requirements/runtime.lock the Dockerfile no
longer copied pyproject.toml, and `pip install --no-deps .` stopped with "Neither 'setup.py'
nor 'pyproject.toml' found" (reproduced by running the Dockerfile's steps in a fresh venv).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
IMAGE = "carbon-pipeline:latest"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    return data


def _carbon_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in _compose()["services"].items()
            if svc.get("image") == IMAGE}


def _copied_before_install() -> set[str]:
    """Sources of the Dockerfile's COPY lines before `pip install --no-deps .`."""
    sources: set[str] = set()
    for line in (DOCKER / "Dockerfile").read_text(encoding="utf-8").splitlines():
        words = line.split() if not line.lstrip().startswith("#") else []
        if words[:1] == ["RUN"] and "install --no-deps ." in line:
            return sources
        if words[:1] == ["COPY"]:
            sources.update(w.rstrip("/") for w in words[1:-1] if not w.startswith("--"))
    raise AssertionError("docker/Dockerfile has no `pip install --no-deps .`")


def test_the_image_copies_what_pip_install_reads() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = {"pyproject.toml", project["project"]["readme"],
              *(f"{m}.py" for m in project["tool"]["setuptools"]["py-modules"]),
              *(p.split(".")[0] for p in project["tool"]["setuptools"]["package-data"])}
    needed |= {"carbon_domain", "carbon_tasks", "carbon_api"}
    missing = sorted(needed - _copied_before_install())
    assert not missing, f"docker/Dockerfile installs without copying {missing}"


def test_the_entrypoint_is_the_carbon_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dockerfile = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["carbon"]' in dockerfile
    assert "carbon" in project["project"]["scripts"]


def test_compose_runs_commands_and_options_the_cli_has() -> None:
    import typer.main

    from carbon_api.cli import app

    root = typer.main.get_command(app)
    services = _carbon_services()
    assert {"migrate", "api", "worker-ingest", "worker-recalc", "worker-aggregate", "beat",
            "flower"} <= set(services)
    wrong = []
    for name, svc in services.items():
        words = list(svc["command"])
        command: Any = root
        while getattr(command, "commands", None) and words and words[0] in command.commands:
            command = command.commands[words.pop(0)]
        if command is root or getattr(command, "commands", None):
            wrong.append(f"{name}: {svc['command']} is no carbon command")
            continue
        opts = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        wrong += [f"{name}: {w}" for w in words if w.startswith("-") and w not in opts]
    assert not wrong, wrong


def test_compose_sets_only_variables_the_code_reads() -> None:
    from carbon_domain.settings import Settings

    known = {f.alias for f in Settings.model_fields.values()}
    # Read outside the settings object: the worker's --concurrency and the version label.
    known |= {"CARBON_WORKER_CONCURRENCY", "CARBON_RELEASE"}
    code = "".join(p.read_text(encoding="utf-8")
                   for base in ("carbon_api", "carbon_tasks") for p in (ROOT / base).rglob("*.py"))
    assert all(f'"{n}"' in code for n in ("CARBON_WORKER_CONCURRENCY", "CARBON_RELEASE"))
    unknown = set()
    for name, svc in _carbon_services().items():
        health = " ".join(svc.get("healthcheck", {}).get("test", []))
        for variable in svc["environment"]:
            if variable == "FLOWER_BROKER_API" and name == "flower":
                continue  # Flower's own option
            if variable == "CARBON_WORKER_NAME" and variable in health:
                continue  # the worker health check's node name
            if variable not in known:
                unknown.add(f"{name}: {variable}")
    assert not unknown, f"compose sets variables nothing reads: {sorted(unknown)}"


def test_compose_labels_each_build_for_the_worker_overview() -> None:
    """The image has no git checkout, so without CARBON_RELEASE every build reports the bare
    package version and /v1/workers/overview cannot flag workers on an older one."""
    for name, svc in _carbon_services().items():
        assert "CARBON_RELEASE" in svc["environment"], name
    example = (DOCKER / ".env.example").read_text(encoding="utf-8")
    assert re.search(r"^CARBON_RELEASE=", example, re.M)


def test_prometheus_runs_where_its_config_finds_the_token() -> None:
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text(
        encoding="utf-8"))
    (job,) = config["scrape_configs"]
    token = Path(job["authorization"]["credentials_file"])
    (target,) = job["static_configs"][0]["targets"]
    services = _compose()["services"]
    prometheus = services["prometheus"]
    mounts = {Path(v.split(":")[1]): v.split(":")[0] for v in prometheus["volumes"]}
    assert mounts.get(token.parent) == "./prometheus", prometheus["volumes"]
    assert f"{config['rule_files'][0]}" in {p.name for p in (DOCKER / "prometheus").iterdir()}
    host, port = target.split(":")
    assert host in services and f"--port\x00{port}" in "\x00".join(services[host]["command"])
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert f"docker/prometheus/{token.name}" in ignored
