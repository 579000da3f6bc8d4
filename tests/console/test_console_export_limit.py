"""The console's CSV downloads obey the per-caller limit on concurrent full-year exports that
``/v1/exports`` has (carbon_api/export_limit.py): past it a clear refusal page (429,
Retry-After), nothing else changes, and the caller's slots are the same as in the API."""

from __future__ import annotations

import httpx
import pytest

from carbon_domain.settings import get_settings

from .support import EQUIPMENT, IT, YEAR, seed_equipment, sign_in

pytestmark = pytest.mark.integration


def test_console_full_year_downloads_are_limited_per_caller(
        http: httpx.Client, server: str, tokens: dict[str, str]) -> None:
    from carbon_api.export_limit import SLOTS

    seed_equipment(entries_per_type=12, types=(IT,))
    sign_in(http, tokens["viewer"])  # dash-bob
    limit = get_settings().export_concurrency
    data = (f"/console/exports/data/{IT}.csv", {"year": YEAR})
    full = ("/console/exports/results.csv", {"year": YEAR})
    ok = http.get(data[0], params=data[1])
    assert ok.status_code == 200 and len(ok.text.strip().splitlines()) == 1 + 12
    assert SLOTS.active("dash-bob") == 0  # the finished download gave its slot back

    # dash-bob has `limit` full-year exports in flight (through the API or another tab).
    held = [SLOTS.acquire("dash-bob", limit) for _ in range(limit)]
    assert all(held)
    try:
        for url, params in (data, full):
            r = http.get(url, params=params)
            assert r.status_code == 429, (url, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("text/html")
            assert r.headers["retry-after"] == "5"
            assert "Export not available" in r.text
            assert (f"&#39;dash-bob&#39; already has {limit} full-year export(s) running"
                    in r.text), r.text
        assert SLOTS.active("dash-bob") == limit  # the refusals took no slot
        # Not a full-year export: one unit's results still download.
        r = http.get(full[0], params={**full[1], "unit": "LAB-A"})
        assert r.status_code == 200 and "LAB-A" in r.text
        # Another caller has its own slots; the console's pages are untouched.
        with httpx.Client(base_url=server, timeout=30) as other:
            sign_in(other, tokens["operator"])
            assert other.get(data[0], params=data[1]).status_code == 200
        assert http.get(f"/console/data/{YEAR}/modules/{EQUIPMENT}").status_code == 200
        # One export ends: the next download goes through and gives its slot back.
        release = held.pop()
        assert release is not None
        release()
        again = http.get(data[0], params=data[1])
        assert again.status_code == 200 and again.text == ok.text
        assert SLOTS.active("dash-bob") == limit - 1
        # A refused check (unknown year, 404) inside the slot gives the slot back too.
        r = http.get(data[0], params={"year": 2031})
        assert r.status_code == 404 and "Export not available" in r.text
        assert SLOTS.active("dash-bob") == limit - 1
    finally:
        for h in held:
            if h is not None:
                h()
    assert SLOTS.active("dash-bob") == 0
