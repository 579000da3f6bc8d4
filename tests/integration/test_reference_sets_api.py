"""Reference uploads are sets, through HTTP with a real worker: ``mode=replace`` (default)
retires the stations / rooms / rates the file omits, ``mode=merge`` only adds and updates,
a file of typos retires nothing, and a station is its (name, country). Each test fails on
the code before (no ``mode``, nothing ever retired, ``Station.name`` unique)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.slices import clear_caches, load_reference_data

from .api_support import Tokens, upload, wait_job, wait_pipeline

pytestmark = pytest.mark.integration

ST = "name,latitude,longitude,country_code\n"
ROOMS = "building_name,room_name,room_type,room_surface_square_meter\n"
RATES = "year,currency,rate_to_eur\n"


def _done(client: TestClient, tokens: Tokens, path: str, body: str, **params: Any
          ) -> dict[str, Any]:
    r = upload(client, path, body, tokens.op, **params)
    assert r.status_code == 202, r.text
    acc = r.json()
    job = wait_job(client, acc["job_id"], tokens.op)
    wait_pipeline(client, acc["pipeline_id"], tokens.op)
    return job


def _stations() -> dict[tuple[str, str], tuple[Any, ...]]:
    """(name, country) → (latitude, retired_by_job_id, changed_by_job_id)."""
    with session_scope() as s:
        return {(n, c): (lat, r, ch) for n, c, lat, r, ch in s.execute(text(
            "SELECT name, country_code, latitude, retired_by_job_id, changed_by_job_id"
            " FROM stations"))}


def test_station_sets_replace_merge_and_typos(api: TestClient, tokens: Tokens) -> None:
    path = "/v1/sync/reference/stations"
    j1 = _done(api, tokens, path, ST + "Paris,48.84,2.37,FR\nParis,33.66,-95.55,US\n"
                                       "Lausane,46.52,6.63,CH\n")
    assert j1["result"] == "SUCCESS", j1["status_message"]
    assert j1["meta"]["inserted"] == 3 and j1["meta"]["mode"] == "replace"
    # Two Paris, two countries: two stations, each found by its country.
    assert _stations() == {("Paris", "FR"): (48.84, None, j1["id"]),
                           ("Paris", "US"): (33.66, None, j1["id"]),
                           ("Lausane", "CH"): (46.52, None, j1["id"])}
    clear_caches()
    with session_scope() as s:
        refs = load_reference_data(s)
    assert refs.station("Paris", "US") == (33.66, -95.55, "US")
    assert refs.station("paris", "fr") == (48.84, 2.37, "FR")

    # Replace without the typo'd "Lausane": it is retired (kept, never read again).
    j2 = _done(api, tokens, path, ST + "Paris,48.84,2.37,FR\nParis,33.66,-95.55,US\n")
    assert (j2["meta"]["retired"], j2["meta"]["unchanged"]) == (1, 2)
    assert "1 retired" in j2["status_message"]
    assert _stations()[("Lausane", "CH")] == (46.52, j2["id"], j2["id"])
    clear_caches()
    with session_scope() as s:
        assert load_reference_data(s).station("Lausane", "CH") is None

    # Merge: Nyon is added, nothing is retired, Lausane stays retired.
    j3 = _done(api, tokens, path, ST + "Nyon,46.38,6.24,CH\n", mode="merge")
    assert (j3["meta"]["inserted"], j3["meta"]["retired"], j3["meta"]["mode"]) == (1, 0, "merge")
    assert len([k for k, v in _stations().items() if v[1] is None]) == 3

    # A file of typos only: ERROR, and nothing is retired.
    before = _stations()
    j4 = _done(api, tokens, path, ST + "Paris,north,2.37,FR\n")
    assert j4["result"] == "ERROR"
    assert _stations() == before
    # A typo'd row keeps its station alive; the others absent from the file are retired.
    j5 = _done(api, tokens, path, ST + "Paris,48.84,2.37,FR\nParis,999,-95.55,US\n")
    assert j5["result"] == "WARNING" and j5["meta"]["retired"] == 1
    after = _stations()
    assert after[("Paris", "US")][1] is None and after[("Nyon", "CH")][1] == j5["id"]
    # The station comes back when a later file has it again (revived, same row).
    j6 = _done(api, tokens, path, ST + "Paris,48.84,2.37,FR\nParis,33.66,-95.55,US\n"
                                       "Nyon,46.38,6.24,CH\n")
    assert j6["meta"]["revived"] == 1 and _stations()[("Nyon", "CH")] == (46.38, None, j6["id"])


def test_room_and_rate_sets(api: TestClient, tokens: Tokens) -> None:
    rooms = "/v1/sync/reference/building-rooms"
    j1 = _done(api, tokens, rooms, ROOMS + "BC,BC 1,office,20\nBC,BC 2,office,30\n")
    assert j1["meta"]["inserted"] == 2
    j2 = _done(api, tokens, rooms, ROOMS + "BC,BC 1,office,25\n")
    assert (j2["meta"]["updated"], j2["meta"]["retired"]) == (1, 1)
    with session_scope() as s:
        got = dict(s.execute(text("SELECT room_name, retired_by_job_id FROM building_rooms")).all())
    assert got == {"BC 1": None, "BC 2": j2["id"]}

    rates = "/v1/sync/reference/exchange-rates"
    j3 = _done(api, tokens, rates, RATES + "2025,usd,0.5\n2025,gbp,1.2\n")
    assert j3["meta"]["affected_years"] == [2025]
    j4 = _done(api, tokens, rates, RATES + "2025,usd,0.5\n")
    assert j4["meta"]["retired"] == 1
    clear_caches()
    with session_scope() as s:
        refs = load_reference_data(s)
    # The retired upload no longer overrides: the shipped 2025 GBP rate applies again.
    assert refs.rate_to_eur(2025, "usd") == 0.5 and refs.rate_to_eur(2025, "gbp") != 1.2
    # The same file again changes nothing and affects no year.
    j5 = _done(api, tokens, rates, RATES + "2025,usd,0.5\n")
    assert j5["meta"]["affected_years"] == [] and j5["meta"]["unchanged"] == 1


def test_bad_reference_uploads_are_refused(api: TestClient, tokens: Tokens) -> None:
    path = "/v1/sync/reference/stations"
    r = upload(api, path, ST + "Nyon,46.38,6.24,CH\n", tokens.op, mode="append")
    assert r.status_code in (400, 422) and "mode" in r.text
    r = upload(api, path, "name,latitude\nNyon,46.38\n", tokens.op)
    assert r.status_code == 400 and "country_code" in r.text
    r = upload(api, "/v1/sync/reference/planets", ST, tokens.op)
    assert r.status_code in (400, 404, 422)
    r = upload(api, path, ST + "Nyon,46.38,6.24,CH\n", tokens.view)
    assert r.status_code == 403
    with session_scope() as s:
        assert s.execute(text("SELECT count(*) FROM stations")).scalar_one() == 0


def test_cli_reference_merge_flag(db: str, worker: Any, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from carbon_api.cli import app

    def ingest(body: str, *extra: str) -> None:
        path = tmp_path / "rooms.csv"
        path.write_text(body)
        result = CliRunner().invoke(app, ["ingest", "reference", "building-rooms", str(path),
                                          "--wait", *extra])
        assert result.exit_code == 0, (result.stdout, result.stderr)

    def retired() -> dict[str, bool]:
        with session_scope() as s:
            return {n: r is not None for n, r in s.execute(text(
                "SELECT room_name, retired_by_job_id FROM building_rooms"))}

    ingest(ROOMS + "BC,BC 1,office,20\nBC,BC 2,office,30\n")
    ingest(ROOMS + "BC,BC 3,office,10\n", "--merge")
    assert retired() == {"BC 1": False, "BC 2": False, "BC 3": False}
    ingest(ROOMS + "BC,BC 3,office,10\n")
    assert retired() == {"BC 1": True, "BC 2": True, "BC 3": False}
