"""Impact preview of a factor upload (POST /v1/sync/factors/{module}?preview=true) on
PostgreSQL with a real worker: the preview writes no factor, history, entry or emission
row; its figures say what the upload would do; applying it gives exactly the previewed
after-totals per (unit, module, emission type) (property test over random revisions);
a later input makes the apply a 409; viewers are refused; the CLI prints it."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from carbon_api.cli import app as cli
from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
from carbon_domain.db.session import session_scope
from tests.conftest import truncate_all

from .api_support import Tokens, upload, wait_idle
from .helpers import UNITS_CSV
from .helpers import wait_pipeline as wait_done
from .test_revert_upload import BASE, ENTRIES, FactorSet, _csv, _sql, _upload

pytestmark = pytest.mark.integration
YEAR = 2025
_PATH = "/v1/sync/factors/4"


def _base(first: FactorSet, base: FactorSet) -> None:
    _upload("units", UNITS_CSV)
    _upload("factors", _csv(first), module=4, det=11)
    _upload("data-entries", ENTRIES, module=4, det=11)
    _upload("factors", _csv(base), module=4, det=11, recalculate=True)


def _written() -> tuple[Any, ...]:
    """Everything a factor upload or a recalculation writes."""
    return (_sql("SELECT id, \"values\"::text, retired_at, changed_by_job_id FROM factors"
                 " ORDER BY id"),
            _sql("SELECT count(*) FROM factor_history"),
            _sql("SELECT id, data::text FROM data_entries ORDER BY id"),
            _sql("SELECT data_entry_id, emission_type_id, kg_co2eq, primary_factor_id"
                 " FROM data_entry_emissions ORDER BY 1, 2"))


def _totals() -> dict[tuple[int, int, int], float]:
    """Stored kg per (unit, module, emission type), exactly summed."""
    kgs: dict[tuple[int, int, int], list[float]] = defaultdict(list)
    for unit, et, kg in _sql("SELECT d.unit_id, e.emission_type_id, e.kg_co2eq FROM"
                             " data_entry_emissions e JOIN data_entries d ON d.id ="
                             " e.data_entry_id WHERE d.data_entry_type_id = 11"):
        kgs[(unit, 4, et)].append(kg)
    return {k: math.fsum(v) for k, v in kgs.items()}


def _previewed(figures: dict[str, Any], side: str) -> dict[tuple[int, int, int], float]:
    return {(r["unit_id"], r["module_type_id"], r["emission_type_id"]): r[side]
            for r in figures["by_unit_module_type"] if r[side]}


def _preview(api: TestClient, tokens: Tokens, body: str, **params: Any) -> dict[str, Any]:
    r = upload(api, _PATH, body, tokens.op, year=YEAR, data_entry_type_id=11, preview="true",
               **params)
    assert r.status_code == 202, r.text
    acc = r.json()
    assert set(acc) >= {"job_id", "pipeline_id", "preview_id"}
    wait_done(acc["pipeline_id"])
    got = api.get(f"/v1/sync/previews/{acc['preview_id']}", headers=tokens.view)
    assert got.status_code == 200, got.text
    return {**got.json(), "accepted": acc}


REVISION: FactorSet = {("Laptop", ""): 0.5, ("Monitor", ""): 0.3, ("Tablet", ""): 0.4,
                       ("Laptop", "Standard"): 0.7}


def test_preview_writes_nothing_and_says_what_the_upload_would_do(
        api: TestClient, tokens: Tokens) -> None:
    _base({**BASE, ("Tablet", ""): 0.4}, BASE)  # Tablet retired by the base
    before = _written()
    stored = _totals()
    p = _preview(api, tokens, _csv(REVISION))
    assert p["state"] == "FINISHED" and p["result"] == "SUCCESS", p
    assert _written() == before  # no factor, history, entry or emission row
    f = p["figures"]
    assert {k: f["factors"][k] for k in ("inserted", "updated", "retired", "revived",
                                         "unchanged")} == {
        "inserted": 1, "updated": 1, "retired": 1, "revived": 1, "unchanged": 1}
    desktop = [c for c in f["factors"]["changes"] if c["change"] == "retired"]
    assert desktop[0]["classification"]["equipment_class"] == "Desktop"
    assert _previewed(f, "before") == pytest.approx(stored, rel=0, abs=0)
    (types,) = f["entries"]
    # Desktop entries (the plain one and the Workstation through its kind-only fallback)
    # lose their factor; Laptops change; the Tablet gets one (it had none).
    assert types["losing_factor"] == 2 == f["losing_factor_count"]
    assert {c["data_entry_id"] for c in f["losing_factor"]} == {
        i for (i,) in _sql("SELECT id FROM data_entries WHERE data->>'equipment_class' ="
                           " 'Desktop'")}
    assert all(c["after"] == 0 and c["unit"] in ("LAB-A", "LAB-B")
               for c in f["losing_factor"])
    top = f["top_changes"]
    assert top and abs(top[0]["delta"]) == max(abs(c["delta"]) for c in top)
    assert f["total"]["delta"] == f["total"]["after"] - f["total"]["before"]

    # Applying: the normal upload with recalculation; the totals are the previewed ones.
    pid = p["preview_id"]
    assert api.post(f"/v1/sync/previews/{pid}/apply", headers=tokens.view).status_code == 403
    r = api.post(f"/v1/sync/previews/{pid}/apply", headers=tokens.op)
    assert r.status_code == 202, r.text
    wait_done(r.json()["pipeline_id"])
    assert _totals() == _previewed(f, "after")
    assert api.get(f"/v1/sync/previews/{pid}", headers=tokens.view).json()[
        "applied_job_id"] == r.json()["job_id"]
    r = api.post(f"/v1/sync/previews/{pid}/apply", headers=tokens.op)
    assert r.status_code == 409 and "already applied" in r.json()["detail"]


def test_preview_refusals(api: TestClient, tokens: Tokens) -> None:
    _base(BASE, BASE)
    bad = "equipment_class,nonsense\nLaptop,1\n"
    as_upload = upload(api, _PATH, bad, tokens.op, year=YEAR, data_entry_type_id=11)
    as_preview = upload(api, _PATH, bad, tokens.op, year=YEAR, data_entry_type_id=11,
                        preview="true")
    assert as_preview.status_code == as_upload.status_code == 400
    assert as_preview.json() == as_upload.json()
    r = upload(api, _PATH, _csv(REVISION), tokens.view, year=YEAR, data_entry_type_id=11,
               preview="true")
    assert r.status_code == 403
    assert api.get("/v1/sync/previews/999999", headers=tokens.view).status_code == 404
    assert api.post("/v1/sync/previews/999999/apply", headers=tokens.op).status_code == 404

    p = _preview(api, tokens, _csv(REVISION))
    pid = p["preview_id"]
    later = _upload("factors", _csv({**BASE, ("Monitor", ""): 0.31}), module=4, det=11)
    r = api.post(f"/v1/sync/previews/{pid}/apply", headers=tokens.op)
    assert r.status_code == 409 and f"job {later}" in r.json()["detail"], r.text

    p = _preview(api, tokens, _csv(REVISION))
    pid = p["preview_id"]
    with session_scope() as s:
        s.execute(text("UPDATE upload_previews SET expires_at = now() - interval '1 second'"
                       " WHERE id = :i"), {"i": pid})
    assert api.post(f"/v1/sync/previews/{pid}/apply", headers=tokens.op).status_code == 410
    assert api.delete(f"/v1/sync/previews/{pid}", headers=tokens.view).status_code == 403
    assert api.delete(f"/v1/sync/previews/{pid}", headers=tokens.op).status_code == 204
    assert api.get(f"/v1/sync/previews/{pid}", headers=tokens.view).status_code == 404


def test_cli_preview(db: str, worker: Any, tmp_path: Any) -> None:
    _base(BASE, BASE)
    f = tmp_path / "it.csv"
    f.write_text(_csv(REVISION))
    args = ["ingest", "factors", str(f), "--module", "4", "--det", "11", "--year", str(YEAR),
            "--preview"]
    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    assert got["state"] == "FINISHED" and got["figures"]["factors"]["retired"] == 1
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert "losing their factor" in out.stdout and "LAB-A" in out.stdout


_KEYS = list(BASE) + [("Tablet", ""), ("Laptop", "Standard"), ("Desktop", "Workstation")]
_EF = st.sampled_from([0.05, 0.1, 0.123456789, 0.2, 1.5])
_SETS = st.dictionaries(st.sampled_from(_KEYS), _EF, min_size=1, max_size=len(_KEYS))


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=_SETS, base=_SETS, revision=_SETS, merge=st.booleans())
def test_apply_gives_exactly_the_previewed_totals(pg_database: str, worker: Any,
                                                  first: FactorSet, base: FactorSet,
                                                  revision: FactorSet, merge: bool) -> None:
    """Random revisions (values changed, factors added, retired — ``first`` has factors
    ``base`` retires — and revived by ``revision``; kind-only fallbacks through the
    sub-classed entries; merge or replace): the preview writes nothing, and after applying
    it the stored totals per (unit, module, emission type) are its after-totals to the last
    digit."""
    from carbon_api.app import app
    wait_idle()
    truncate_all()
    from carbon_domain.services.access.tokens import create_token  # (tokens: function-scoped)
    with session_scope() as s:
        tokens = Tokens(create_token(s, "ops", "operator"), create_token(s, "view", "viewer"))
    _base(first, base)
    before = _written()
    with TestClient(app, raise_server_exceptions=True) as api:
        p = _preview(api, tokens, _csv(revision), mode="merge" if merge else "replace")
        assert _written() == before
        r = api.post(f"/v1/sync/previews/{p['preview_id']}/apply", headers=tokens.op)
        assert r.status_code == 202, r.text
        wait_done(r.json()["pipeline_id"])
    assert _totals() == _previewed(p["figures"], "after")


def test_a_module_wide_preview_covers_every_type_of_the_module(api: TestClient,
                                                                tokens: Tokens) -> None:
    """Without a type the file routes its rows by `data_entry_type`, and the upload would
    recalculate every type of the module: the preview measures them all."""
    _base(BASE, BASE)
    lines = _csv(REVISION).splitlines()
    body = "\n".join(["data_entry_type," + lines[0], *("it," + x for x in lines[1:])]) + "\n"
    r = upload(api, _PATH, body, tokens.op, year=YEAR, preview="true", mode="merge")
    assert r.status_code == 202, r.text
    wait_done(r.json()["pipeline_id"])
    p = api.get(f"/v1/sync/previews/{r.json()['preview_id']}", headers=tokens.view).json()
    assert p["result"] == "SUCCESS", p
    assert [t["data_entry_type_id"] for t in p["figures"]["entries"]] == [
        d.value for d in MODULE_DATA_ENTRY_TYPES[ModuleType(4)]]
    # Merge: Desktop is not retired, so no entry loses its factor; Laptop still changes.
    assert p["figures"]["factors"]["retired"] == 0 == p["figures"]["losing_factor_count"]
    assert p["figures"]["total"]["delta"] != 0
