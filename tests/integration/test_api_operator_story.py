"""Seed 002's Verification list, end to end through HTTP (uploads, status, module-level
recalculation followed over SSE, reports). The one step the seed does by hand — "break one
DataEntry" — is a direct SQL edit: no HTTP route can store an entry the ingest rejects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_domain.settings import get_settings

from .api_support import Tokens, upload, wait_job, wait_pipeline
from .helpers import UNITS_CSV

pytestmark = pytest.mark.integration

YEAR = 2025
F_HEADER = "equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
E_HEADER = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
            "active_usage_hours_per_week,standby_usage_hours_per_week\n")
SCIENTIFIC, IT, OTHER = 10, 11, 12


def sse_events(api: TestClient, path: str, tokens: Tokens) -> list[tuple[str, dict[str, Any]]]:
    with api.stream("GET", path, headers=tokens.view) as r:
        assert r.status_code == 200
        raw = "".join(r.iter_text())
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if ": " in line and not line.startswith(":"))
        if "data" in fields:
            events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


def status(api: TestClient, tokens: Tokens) -> dict[int, dict[str, Any]]:
    r = api.get("/v1/sync/recalculation-status", params={"year": YEAR}, headers=tokens.view)
    assert r.status_code == 200
    return {m["module_type_id"]: m for m in r.json()}


def stale_types(module: dict[str, Any]) -> dict[int, bool]:
    return {t["data_entry_type_id"]: t["needs_recalculation"] for t in module["data_entry_types"]}


def post_module_recalc(api: TestClient, tokens: Tokens, only_stale: bool) -> Any:
    return api.post("/v1/sync/recalculate-emissions/4",
                    params={"year": YEAR, "only_stale": str(only_stale).lower()},
                    headers=tokens.op)


def equipment_total(api: TestClient, tokens: Tokens, unit: str) -> float:
    (report,) = api.get("/v1/reports", params={"year": YEAR, "unit": unit},
                        headers=tokens.view).json()["items"]
    stats = api.get(f"/v1/reports/{report['id']}/modules/4/stats", headers=tokens.view).json()
    return float(stats["stats"]["total"])


def test_seed_002_verification(api: TestClient, tokens: Tokens,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "sse_poll_seconds", 0.02)

    def done(path: str, body: str, **params: Any) -> dict[str, Any]:
        r = upload(api, path, body, tokens.op, year=YEAR, **params)
        assert r.status_code == 202, r.text
        return wait_pipeline(api, r.json()["pipeline_id"], tokens.op)

    done("/v1/sync/units", UNITS_CSV)
    done("/v1/sync/data-entries/4", E_HEADER + "UA,S-1,Centrifuge,Centrifuge,,10,20\n"
         "UB,S-2,Centrifuge,Centrifuge,,10,20\n", data_entry_type_id=SCIENTIFIC)
    done("/v1/sync/data-entries/4", E_HEADER + "UA,I-1,Laptop,Laptop,Standard,40,128\n"
         "UB,I-2,Laptop,Laptop,Standard,40,128\n", data_entry_type_id=IT)
    assert all(not m["needs_recalculation"] for m in status(api, tokens).values())

    # 1. A successful FACTORS job for (module 4, type Y) → module and type need recalculation.
    for det, row in ((SCIENTIFIC, "Centrifuge,,500,50,0.1\n"),
                     (IT, "Laptop,Standard,100,10,0.1\n")):
        p = done("/v1/sync/factors/4", F_HEADER + row, data_entry_type_id=det)
        assert p["status"] == "SUCCESS"
    module = status(api, tokens)[4]
    assert module["needs_recalculation"] is True
    assert stale_types(module) == {SCIENTIFIC: True, IT: True}
    assert all(t["last_input_job_type"] == "factor_ingest" for t in module["data_entry_types"])

    # 2. Module dialog, "only stale" → one job id.
    r = post_module_recalc(api, tokens, only_stale=True)
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert set(accepted) == {"job_id", "pipeline_id", "state", "message"}
    assert "2 data entry types" in accepted["message"]

    # 3. SSE on the job stream: "Recalculating {type} (i/N)" per type, then final stats.
    events = sse_events(api, f"/v1/sync/jobs/{accepted['job_id']}/stream", tokens)
    assert events[-1] == ("end", {"stream_closed": True})
    snapshots = [d for name, d in events if name == "job-update"]
    messages = [c["status_message"] or "" for s in snapshots for c in s["children"]]
    assert any(m.startswith("Recalculating scientific (1/2): ") for m in messages), messages
    assert any(m.startswith("Recalculating it (2/2): ") for m in messages), messages
    final = snapshots[-1]
    assert (final["state"], final["result"]) == ("FINISHED", "SUCCESS")
    assert final["job_type"] == "module_emission_recalc"
    assert sorted(c["data_entry_type_id"] for c in final["children"]) == [SCIENTIFIC, IT]
    for child in final["children"]:
        assert child["result"] == "SUCCESS"
        assert child["recalculation"]["entries"] == 2
        assert child["recalculation"]["errors"] == 0
    pipeline = wait_pipeline(api, accepted["pipeline_id"], tokens.op)
    assert pipeline["status"] == "SUCCESS"
    assert "aggregation" in [j["job_type"] for j in pipeline["jobs"]]

    # 4. After completion: nothing needs recalculation; the numbers are there.
    module = status(api, tokens)[4]
    assert module["needs_recalculation"] is False
    assert stale_types(module) == {SCIENTIFIC: False, IT: False}
    lab_a = equipment_total(api, tokens, "LAB-A")
    # scientific: (10 h × 500 W + 20 h × 50 W) × 52 / 1000 × 0.1 = 31.2; IT: 27.456
    assert lab_a == pytest.approx(31.2 + 27.456)

    # 5. A new FACTORS job flips its type (only) back to stale.
    done("/v1/sync/factors/4", F_HEADER + "Laptop,Standard,100,10,0.2\n", data_entry_type_id=IT)
    module = status(api, tokens)[4]
    assert module["needs_recalculation"] is True
    assert stale_types(module) == {SCIENTIFIC: False, IT: True}
    assert equipment_total(api, tokens, "LAB-A") == pytest.approx(lab_a)  # not yet recalculated

    # 6. "All data entry types": every type of the module, stale or not.
    r = post_module_recalc(api, tokens, only_stale=False)
    assert r.status_code == 202
    job = wait_job(api, r.json()["job_id"], tokens.op)
    assert job["meta"]["config"]["data_entry_type_ids"] == [SCIENTIFIC, IT, OTHER]
    assert sorted(c["data_entry_type_id"] for c in job["children"]) == [SCIENTIFIC, IT, OTHER]
    assert job["result"] == "SUCCESS"
    wait_pipeline(api, r.json()["pipeline_id"], tokens.op)
    assert equipment_total(api, tokens, "LAB-A") == pytest.approx(31.2 + 2 * 27.456)
    assert status(api, tokens)[4]["needs_recalculation"] is False

    # 7. "Only stale" with nothing stale → 400 with the clear message.
    r = post_module_recalc(api, tokens, only_stale=True)
    assert r.status_code == 400
    assert r.json()["detail"] == "No data entry types require recalculation for this module"

    # 8. Break one data entry → the module job finishes WARNING; the broken type's stats
    #    show errors=1 and the other types are unaffected.
    with session_scope() as s:
        s.execute(text(
            "UPDATE data_entries SET data = jsonb_set(data, '{active_usage_hours_per_week}',"
            " '\"forty\"') WHERE id = (SELECT min(id) FROM data_entries"
            " WHERE data_entry_type_id = :d)"), {"d": IT})
    r = post_module_recalc(api, tokens, only_stale=False)
    job = wait_job(api, r.json()["job_id"], tokens.op)
    assert job["result"] == "WARNING"
    assert not job["status_message"].lower().startswith("success")
    by_type = {c["data_entry_type_id"]: c for c in job["children"]}
    assert by_type[IT]["result"] == "WARNING"
    assert by_type[IT]["recalculation"]["errors"] == 1
    assert by_type[IT]["recalculation"]["error_details"][0]["entry_id"] > 0
    assert by_type[SCIENTIFIC]["result"] == "SUCCESS"
    assert by_type[SCIENTIFIC]["recalculation"]["errors"] == 0
    # A WARNING still aggregates (the good entries' numbers are current).
    p = wait_pipeline(api, r.json()["pipeline_id"], tokens.op)
    assert p["jobs"][-1]["job_type"] == "aggregation" and p["jobs"][-1]["result"] == "SUCCESS"
