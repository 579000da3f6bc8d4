"""The dependency locks (requirements/*.lock) agree with pyproject.toml.

The static checks need no network: every requirement of pyproject.toml has a pin in the lock
that satisfies it, and the runtime lock (docker/Dockerfile) pins what the dev lock pins. The
last test runs .ci/check-lock on a copy of the repository whose pyproject.toml gained a
requirement, and expects it to fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(lock: str) -> dict[str, str]:
    """name → version of the lock's lines whose marker holds on this interpreter."""
    out: dict[str, str] = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        if not line or line[0] in "# ":
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate():
            (spec,) = req.specifier
            assert spec.operator == "==", line
            out[canonicalize_name(req.name)] = spec.version
    return out


def unsatisfied(requirements: list[str], lock: str) -> list[str]:
    pinned = pins(lock)
    bad = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": "dev"}):
            continue
        version = pinned.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            bad.append(f"{text} (lock: {version})")
    return bad


def test_runtime_lock_satisfies_pyproject() -> None:
    assert unsatisfied(PYPROJECT["dependencies"], "runtime.lock") == []


def test_dev_lock_satisfies_pyproject_with_dev_extra() -> None:
    deps = PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]
    assert unsatisfied(deps, "dev.lock") == []


def test_runtime_and_dev_locks_pin_the_same_versions() -> None:
    runtime, dev = pins("runtime.lock"), pins("dev.lock")
    assert {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v} == {}


def test_sqlalchemy_is_locked_to_the_tested_minor() -> None:
    assert pins("runtime.lock")["sqlalchemy"].startswith("2.1.")


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed (it comes with the [dev] extra)")
    return found


def test_check_lock_fails_when_pyproject_gains_a_requirement(tmp_path: Path) -> None:
    for part in ("pyproject.toml", "requirements", "scripts", ".ci"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / part)
    pyproject = tmp_path / "pyproject.toml"
    # six is already in the lock (through python-dateutil), so the recompiled lock differs
    # only in its "# via" lines and the index is needed for nothing new.
    pyproject.write_text(pyproject.read_text().replace('"pyyaml>=6",', '"pyyaml>=6", "six",'))
    env = {**os.environ, "UV": uv()}
    proc = subprocess.run(["bash", ".ci/check-lock"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    if "falling back to the static check" in proc.stderr:
        pytest.skip("package index unreachable and uv's cache incomplete")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "does not match pyproject.toml; run scripts/lock" in proc.stderr
    # The untouched copy passes: the failure above is the added requirement, nothing else.
    shutil.copy2(ROOT / "pyproject.toml", pyproject)
    proc = subprocess.run(["bash", ".ci/check-lock"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
