"""Reference uploads (stations) previewed, applied and reverted, on PostgreSQL with a real
worker: the preview of a stations file writes nothing and measures the train entries of
every year it changes; after the apply and the recalculation of the stale types the stored
train totals are its after-figures to the last digit (property test over random station
revisions: moved, added, retired, revived); a revert restores the live stations, the train
rows and the module stats exactly, and ``?preview=true`` on the revert previews it."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops
from tests.conftest import truncate_all

from .api_support import Tokens, upload, wait_idle
from .helpers import UNITS_CSV, emissions, module_stats
from .helpers import wait_pipeline as wait_done
from .test_revert_upload import _sql

pytestmark = pytest.mark.integration
YEAR, TRAIN, TRAVEL = 2025, 21, 2
FACTORS = "country_code,ef_kg_co2eq_per_km\nCH,0.01\nFR,0.02\nRoW,0.03\n"
STATIONS: dict[tuple[str, str], tuple[float, float]] = {
    ("Geneva", "CH"): (46.21, 6.14), ("Lausanne", "CH"): (46.52, 6.63),
    ("Zurich", "CH"): (47.38, 8.54), ("Paris", "FR"): (48.84, 2.37),
    ("Lyon", "FR"): (45.76, 4.86)}
TRIPS = [("Geneva", "CH", "Lausanne", "CH"), ("Geneva", "CH", "Paris", "FR"),
         ("Zurich", "CH", "Lyon", "FR"), ("Lausanne", "CH", "Zurich", "CH"),
         ("Paris", "FR", "Lyon", "FR"), ("Lyon", "FR", "Geneva", "CH")]
ENTRIES = ("unit_institutional_id,origin_name,origin_country_code,destination_name,"
           "destination_country_code,number_of_trips,cabin_class\n"
           + "".join(f"U{'AB'[i % 2]},{a},{ac},{b},{bc},{1 + i % 3},second\n"
                     for i, (a, ac, b, bc) in enumerate(TRIPS * 2)))
Stations = dict[tuple[str, str], tuple[float, float]]


def _stations_csv(stations: Stations) -> str:
    return "name,latitude,longitude,country_code\n" + "".join(
        f"{n},{lat},{lon},{cc}\n" for (n, cc), (lat, lon) in stations.items())


def _run(acc: Any) -> int:
    assert wait_done(acc.pipeline_id).status in ("SUCCESS", "WARNING", "PARTIAL")
    return int(acc.job_id)


def _upload(kind: str, body: str, **kw: Any) -> int:
    return _run(ops.start_upload(kind, body.encode(), created_by="ref-test", **kw))


def _recalculate() -> None:
    try:
        _run(ops.trigger_module_recalculation(module=TRAVEL, year=YEAR, created_by="ref-test"))
    except ops.NothingToRecalculate:
        pass


def _base(stations: Stations) -> int:
    _upload("units", UNITS_CSV, year=YEAR)
    job = _upload("stations", _stations_csv(stations))
    _upload("factors", FACTORS, module=TRAVEL, det=TRAIN, year=YEAR)
    _upload("data-entries", ENTRIES, module=TRAVEL, det=TRAIN, year=YEAR)
    return job


def _totals() -> dict[tuple[int, int, int], float]:
    kgs: dict[tuple[int, int, int], list[float]] = defaultdict(list)
    for unit, et, kg in _sql("SELECT d.unit_id, e.emission_type_id, e.kg_co2eq FROM"
                             " data_entry_emissions e JOIN data_entries d ON d.id ="
                             " e.data_entry_id WHERE d.data_entry_type_id = :d", d=TRAIN):
        kgs[(unit, TRAVEL, et)].append(kg)
    return {k: math.fsum(v) for k, v in kgs.items()}


def _previewed(figures: dict[str, Any], side: str) -> dict[tuple[int, int, int], float]:
    return {(r["unit_id"], r["module_type_id"], r["emission_type_id"]): r[side]
            for r in figures["by_unit_module_type"] if r[side]}


def _state() -> tuple[Any, ...]:
    live = sorted(_sql("SELECT name, country_code, latitude, longitude FROM stations"
                       " WHERE retired_by_job_id IS NULL"))
    stats = [{k: v for k, v in module_stats(u, TRAVEL, YEAR).items() if k != "computed_at"}
             for u in ("LAB-A", "LAB-B")]
    return live, emissions(TRAIN), stats


def _preview(api: TestClient, tokens: Tokens, path: str, body: str | None = None,
             **params: Any) -> dict[str, Any]:
    if body is None:
        r = api.post(path, params={**params, "preview": "true"}, headers=tokens.op)
    else:
        r = upload(api, path, body, tokens.op, preview="true", **params)
    assert r.status_code == 202, r.text
    acc = r.json()
    wait_done(acc["pipeline_id"])
    got = api.get(f"/v1/sync/previews/{acc['preview_id']}", headers=tokens.view)
    assert got.status_code == 200, got.text
    return got.json()


def _written() -> tuple[Any, ...]:
    return (_sql("SELECT id, name, latitude, longitude, retired_by_job_id, changed_by_job_id"
                 " FROM stations ORDER BY id"), emissions(TRAIN))


MOVED: Stations = {**STATIONS, ("Paris", "FR"): (48.0, 2.0), ("Basel", "CH"): (47.55, 7.59)}
MOVED.pop(("Lyon", "FR"))


def test_stations_preview_and_revert(api: TestClient, tokens: Tokens) -> None:
    _base(STATIONS)
    _recalculate()
    before_state, before = _state(), _written()
    p = _preview(api, tokens, "/v1/sync/reference/stations", _stations_csv(MOVED))
    assert p["state"] == "FINISHED" and p["result"] == "SUCCESS", p
    assert p["kind"] == "stations" and p["module_type_id"] is None and p["year"] is None
    assert _written() == before
    f = p["figures"]
    assert f["slices"] == [[TRAIN, YEAR]] and _previewed(f, "before") == _totals()
    ref = f["reference"]
    assert (ref["inserted"], ref["updated"], ref["retired"]) == (1, 1, 1)
    assert {(c["key"][0], c["change"]) for c in ref["changes"]} == {
        ("Basel", "added"), ("Paris", "updated"), ("Lyon", "retired")}
    # Every trip to or from the moved Paris changes (Lyon falls back to a shipped station).
    paris = sum(1 for t in TRIPS if "Paris" in t) * 2
    assert f["entries"][0]["affected"] >= paris and f["total"]["delta"] != 0
    r = upload(api, "/v1/sync/reference/stations", _stations_csv(MOVED), tokens.view,
               preview="true")
    assert r.status_code == 403

    # Apply, recalculate the stale train type: the previewed totals, exactly.
    r = api.post(f"/v1/sync/previews/{p['preview_id']}/apply", headers=tokens.op)
    assert r.status_code == 202, r.text
    applied = _run(_Acc(r.json()))
    _recalculate()
    assert _totals() == _previewed(f, "after")
    assert _state() != before_state

    # Undo: the first upload is not the latest of its kind; the applied one is.
    first = min(j for (j,) in _sql("SELECT id FROM data_ingestion_jobs WHERE job_type ="
                                   " 'reference_ingest'"))
    r = api.post(f"/v1/sync/uploads/{first}/revert", headers=tokens.op)
    assert r.status_code == 409 and f"revert job {applied} first" in r.json()["detail"]
    assert api.post(f"/v1/sync/uploads/{applied}/revert",
                    headers=tokens.view).status_code == 403
    rp = _preview(api, tokens, f"/v1/sync/uploads/{applied}/revert")
    assert rp["result"] == "SUCCESS" and rp["reverts_job_id"] == applied, rp
    assert _previewed(rp["figures"], "after") == {
        k: v for k, v in _previewed(f, "before").items()}
    r = api.post(f"/v1/sync/uploads/{applied}/revert", headers=tokens.op)
    assert r.status_code == 202, r.text
    _run(_Acc(r.json()))
    _recalculate()
    assert _state() == before_state
    r = api.post(f"/v1/sync/uploads/{first}/revert", headers=tokens.op)
    assert r.status_code == 409


class _Acc:
    def __init__(self, d: dict[str, Any]) -> None:
        self.job_id, self.pipeline_id = d["job_id"], d["pipeline_id"]


_NAMES = [("Geneva", "CH"), ("Lausanne", "CH"), ("Zurich", "CH"), ("Paris", "FR"),
          ("Lyon", "FR"), ("Basel", "CH")]
_POS = st.tuples(st.sampled_from([45.5, 46.21, 47.0, 48.84]),
                 st.sampled_from([2.37, 6.14, 7.5, 8.54]))
_SETS = st.dictionaries(st.sampled_from(_NAMES), _POS, min_size=1, max_size=len(_NAMES))


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=_SETS, revision=_SETS, merge=st.booleans())
def test_reference_preview_equals_apply_and_revert_is_identity(
        pg_database: str, worker: Any, first: Stations, revision: Stations,
        merge: bool) -> None:
    """Random station sets (moved, added, retired; a later file may revive what the first
    retired): preview → apply → recalculate gives the previewed totals exactly; reverting
    the apply gives back the live stations, rows and stats of before."""
    from carbon_api.app import app
    from carbon_domain.services.access.tokens import create_token
    wait_idle()
    truncate_all()
    with session_scope() as s:
        tokens = Tokens(create_token(s, "ops", "operator"), create_token(s, "view", "viewer"))
    _base(STATIONS)
    _upload("stations", _stations_csv(first))
    _recalculate()
    before_state, before = _state(), _written()
    with TestClient(app, raise_server_exceptions=True) as api:
        p = _preview(api, tokens, "/v1/sync/reference/stations", _stations_csv(revision),
                     mode="merge" if merge else "replace")
        assert _written() == before
        r = api.post(f"/v1/sync/previews/{p['preview_id']}/apply", headers=tokens.op)
        assert r.status_code == 202, r.text
        applied = _run(_Acc(r.json()))
        _recalculate()
        assert _totals() == _previewed(p["figures"], "after")
        r = api.post(f"/v1/sync/uploads/{applied}/revert", headers=tokens.op)
        if r.status_code == 409:  # the file changed no station: nothing to undo
            assert "changed no stations row" in r.json()["detail"], r.text
            assert _state() == before_state
            return
        assert r.status_code == 202, r.text
        _run(_Acc(r.json()))
    _recalculate()
    assert _state() == before_state


def test_cli_previews_of_reference_entries_and_revert(db: str, worker: Any,
                                                      tmp_path: Any) -> None:
    """`--preview` on `carbon ingest reference`, `carbon ingest data-entries` and
    `carbon revert`: the figures printed (JSON), nothing written."""
    import json

    from typer.testing import CliRunner

    from carbon_api.cli import app as cli
    _base(STATIONS)
    job = _upload("stations", _stations_csv(MOVED))
    _recalculate()
    before = _written()
    f = tmp_path / "stations.csv"
    f.write_text(_stations_csv(STATIONS))
    out = CliRunner().invoke(cli, ["ingest", "reference", "stations", str(f), "--preview",
                                   "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    ref = got["figures"]["reference"]
    assert got["kind"] == "stations" and (ref["revived"], ref["retired"]) == (1, 1)  # Lyon, Basel
    e = tmp_path / "entries.csv"
    e.write_text(ENTRIES.replace("second", "first"))
    out = CliRunner().invoke(cli, ["ingest", "data-entries", str(e), "--module", "2", "--det",
                                   str(TRAIN), "--year", str(YEAR), "--preview"])
    assert out.exit_code == 0, out.output
    assert "entries" in out.stdout and "LAB-A" in out.stdout
    out = CliRunner().invoke(cli, ["revert", str(job), "--preview", "--json"])
    assert out.exit_code == 0, out.output
    rev = json.loads(out.stdout)
    assert rev["reverts_job_id"] == job and rev["figures"]["reference"]["retired"] == 1
    assert _written() == before


ROOM_FACTORS = ("building_name,room_type,ef_kg_co2eq_per_kwh,heating_kwh_per_square_meter,"
                "lighting_kwh_per_square_meter,energy_type\nBC,office,0.1,30,5,electric\n")
ROOM_ENTRIES = ("unit_institutional_id,building_name,room_name,room_type\n"
                "UA,BC,BC 1,office\nUB,BC,BC 2,office\nUA,BC,BC 2,office\n")


def _rooms(*names: str) -> str:
    return "building_name,room_name,room_type,room_surface_square_meter\n" + "".join(
        f"BC,{n},office,20\n" for n in names)


def test_a_rooms_preview_counts_the_entries_that_would_lose_every_row(
        api: TestClient, tokens: Tokens, tmp_path: Any) -> None:
    """A rooms file without a room some entries are in: those entries keep their factor but
    the engine refuses them (no surface), so they lose every row. The preview said 'losing
    factor 0' and nothing else (the kg drop was right); an operator applied it and found 378
    building entries without a row. It now counts them, on the API, the CLI and the console."""
    from typer.testing import CliRunner

    from carbon_api.cli import app as cli
    _upload("units", UNITS_CSV, year=YEAR)
    _upload("building-rooms", _rooms("BC 1", "BC 2"))
    _upload("factors", ROOM_FACTORS, module=3, det=30, year=YEAR)
    _upload("data-entries", ROOM_ENTRIES, module=3, det=30, year=YEAR)
    p = _preview(api, tokens, "/v1/sync/reference/building-rooms", _rooms("BC 2"))
    (types,) = p["figures"]["entries"]
    assert (types["losing_rows"], types["losing_factor"]) == (1, 0), types
    f = tmp_path / "rooms.csv"
    f.write_text(_rooms("BC 2"))
    out = CliRunner().invoke(cli, ["ingest", "reference", "building-rooms", str(f), "--preview"],
                             env={"COLUMNS": "120"})
    assert out.exit_code == 0, out.output
    assert "1 entry would have no emission row after the change" in " ".join(out.stdout.split())
    from tests.console.support import sign_in
    sign_in(api, tokens.viewer)
    page = api.get(f"/console/previews/{p['preview_id']}")
    # The page of a reference preview (no module, no year) answered 500 before.
    assert page.status_code == 200
    assert "1 entry would have no emission row" in page.text, page.text[:500]
    assert "Reference data: building-rooms" in page.text and "/console/data/None" not in page.text
    # The truth, once applied and recalculated: that entry has no row.
    r = api.post(f"/v1/sync/previews/{p['preview_id']}/apply", headers=tokens.op)
    assert r.status_code == 202, r.text
    _run(_Acc(r.json()))
    _run(ops.trigger_recalculation(module=3, det=30, year=YEAR, created_by="t"))
    rowless = _sql("SELECT count(*) FROM data_entries d WHERE d.data_entry_type_id = 30 AND"
                   " NOT EXISTS (SELECT 1 FROM data_entry_emissions e WHERE e.data_entry_id"
                   " = d.id)")
    assert rowless == [(1,)]
