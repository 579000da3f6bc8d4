"""`carbon demo --serve` on a clean directory with no configuration: the story runs, then the
API, the console and the embedded worker stay up; Ctrl-C stops them."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .support import free_port


def test_demo_serve_keeps_console_and_worker_running(tmp_path: Path) -> None:
    carbon = shutil.which("carbon", path=str(Path(sys.executable).parent)) or "carbon"
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "COLUMNS": "200"}
    proc = subprocess.Popen([carbon, "demo", "--serve", "--port", str(port), "--units", "3",
                             "--entries", "300"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while not any("Ctrl-C stops" in line for line in out):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "".join(out)
            out.append(line)
            assert time.monotonic() < deadline, "".join(out)
        text = "".join(out)
        token = re.search(r"operator token:\s+(cbn_\S+)", text).group(1)
        assert f"http://127.0.0.1:{port}/" in text
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as c:
            for _ in range(100):  # uvicorn binds just after the banner
                try:
                    c.get("/v1/health")
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            login = c.get("/login")
            nonce = re.search(r'name="login_csrf" value="([^"]+)"', login.text).group(1)
            r = c.post("/login", data={"token": token, "login_csrf": nonce},
                       follow_redirects=True)
            assert r.status_code == 200 and "Data management" in r.text
            page = c.get("/console/data/2025").text
            assert "Equipment" in page and "stats as of" in page
            csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page).group(1)
            r = c.post("/console/data/2025/modules/4/types/11/recalculate",
                       headers={"X-CSRF-Token": csrf})
            assert r.status_code == 200, r.text
            pid = re.search(r'data-pipeline="([0-9a-f-]{36})"', r.text).group(1)
            for _ in range(300):  # the embedded worker is still consuming
                detail = c.get(f"/console/pipelines/{pid}").text
                if "Succeeded" in detail:
                    break
                time.sleep(0.1)
            assert "Succeeded" in detail
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert "Traceback" not in "".join(out)
