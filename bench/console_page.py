"""How long the console's pages take with a long job history.

``python -m bench.console_page [--jobs 100000] [--repeat 20] [--reuse]``

Seeds the same database as ``bench.status_read`` (``carbon_status_bench``: 100,000 finished
factor-upload and recalculation jobs with 20 row errors each, some types stale), signs in
through the console's form and times, warm, the data management page of the year, the
recalculation dialog of one module and the pipelines page (median, p95, max).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from typing import Any

from fastapi.testclient import TestClient

from bench.services import database_exists
from bench.status_read import URL, YEAR, _time, seed
from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import create_token


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.console_page", description=__doc__)
    ap.add_argument("--database-url", default=URL)
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--reuse", action="store_true", help="keep the seeded database")
    a = ap.parse_args(argv)
    os.environ["CARBON_DATABASE_URL"] = a.database_url
    os.environ.setdefault("CARBON_LOG_LEVEL", "WARNING")
    if not (a.reuse and database_exists(a.database_url)):
        t0 = time.perf_counter()
        seed(a.database_url, a.jobs)
        print(f"seeded {a.jobs:,} jobs in {time.perf_counter() - t0:.1f} s")
    # The app reads the settings when it is imported: only after the environment is set.
    from carbon_api.app import create_app  # noqa: PLC0415

    with session_scope() as s:
        token = create_token(s, f"bench-{time.time_ns()}", "viewer")
    client = TestClient(create_app())
    login = client.get("/login").text
    nonce = re.search(r'name="login_csrf" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
    assert client.post("/login", data={"token": token, "login_csrf": nonce},
                       follow_redirects=False).status_code == 303

    def page(path: str) -> Any:
        def get() -> Any:
            r = client.get(path)
            assert r.status_code == 200, r.text[:300]
            return r
        return get

    out: dict[str, Any] = {"jobs": a.jobs}
    for name, path in (("data page", f"/console/data/{YEAR}"),
                       ("recalc dialog", f"/console/data/{YEAR}/modules/4/recalculate"),
                       ("pipelines page", "/console/pipelines")):
        out[name] = _time(page(path), a.repeat)
    print(f"console pages with {a.jobs:,} jobs in {YEAR}:")
    for name in ("data page", "recalc dialog", "pipelines page"):
        t = out[name]
        print(f"  {name:15} median {t['median_ms']:8.1f} ms   p95 {t['p95_ms']:8.1f} ms"
              f"   max {t['max_ms']:8.1f} ms")
    return out


if __name__ == "__main__":
    main()
