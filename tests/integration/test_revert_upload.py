"""Undo a factor upload (POST /v1/sync/uploads/{job_id}/revert) on PostgreSQL with a real
worker: the revert is a new upload restoring the scope's factor set as it was just before
the reverted one, so live factors, emission rows and module stats come back exactly
(property test over random revisions); a later upload of the scope makes it a 409 naming
that upload; viewers are refused; the CLI does the same."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from carbon_api.cli import app as cli
from carbon_domain.db.session import session_scope
from carbon_domain.services.ingest.reverts import plan_factor_revert
from carbon_tasks import operations as ops
from tests.conftest import truncate_all

from .api_support import Tokens, wait_idle
from .helpers import UNITS_CSV, emissions, jobs_of, module_stats
from .helpers import wait_pipeline as wait_done

pytestmark = pytest.mark.integration
YEAR = 2025
EQ_F = ("equipment_class,sub_class,active_power_w,standby_power_w,active_usage_hours_per_week,"
        "standby_usage_hours_per_week,ef_kg_co2eq_per_kwh\n")
CLASSES = ("Laptop", "Desktop", "Monitor", "Tablet")
ENTRIES = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
           "active_usage_hours_per_week,standby_usage_hours_per_week\n"
           + "".join(f"U{'AB'[i % 2]},IT-{i},{c} {i},{c},{sub},{10 + i},20\n"
                     for i, (c, sub) in enumerate(
                         [(c, "") for c in CLASSES] + [("Laptop", "Standard"),
                                                        ("Desktop", "Workstation")])))
FactorSet = dict[tuple[str, str], float]  # (class, sub class) → ef


def _csv(factors: FactorSet) -> str:
    return EQ_F + "".join(f"{c},{sub},100,10,,,{ef}\n" for (c, sub), ef in factors.items())


def _upload(kind: str, body: str, **kw: Any) -> int:
    acc = ops.start_upload(kind, body.encode(), created_by="revert-test", year=YEAR, **kw)
    assert wait_done(acc.pipeline_id).status in ("SUCCESS", "WARNING")
    return _upload_job(acc.pipeline_id)


def _upload_job(pipeline_id: str) -> int:
    (job,) = [j for j in jobs_of(pipeline_id) if j.upload_id is not None]
    return job.id


def _state() -> tuple[Any, ...]:
    """Live factors, emission rows and module stats (without their timestamps)."""
    with session_scope() as s:
        live = sorted((r[0], r[1], str(r[2])) for r in s.execute(text(
            "SELECT id, classification_key, \"values\" FROM factors WHERE retired_at IS NULL")))
    stats = [{k: v for k, v in module_stats(u, 4, YEAR).items() if k != "computed_at"}
             for u in ("LAB-A", "LAB-B")]
    return live, emissions(11), stats


def _base(factors: FactorSet) -> None:
    _upload("units", UNITS_CSV)
    _upload("factors", _csv(factors), module=4, det=11)
    _upload("data-entries", ENTRIES, module=4, det=11)
    _upload("factors", _csv(factors), module=4, det=11, recalculate=True)


BASE: FactorSet = {("Laptop", ""): 0.1, ("Desktop", ""): 0.2, ("Monitor", ""): 0.3}


def test_revert_route_restores_the_set_and_refuses_what_it_cannot(api: TestClient,
                                                                 tokens: Tokens) -> None:
    _upload("units", UNITS_CSV)
    j0 = _upload("factors", _csv({**BASE, ("Tablet", ""): 0.4}), module=4, det=11)
    _upload("data-entries", ENTRIES, module=4, det=11)
    j1 = _upload("factors", _csv(BASE), module=4, det=11, recalculate=True)  # Tablet retired
    before = _state()
    j2 = _upload("factors", _csv({("Laptop", ""): 0.5, ("Monitor", ""): 0.3,
                                  ("Tablet", ""): 0.4, ("Laptop", "Standard"): 0.7}),
                 module=4, det=11, recalculate=True)
    assert _state() != before

    assert api.post(f"/v1/sync/uploads/{j2}/revert", headers=tokens.view).status_code == 403
    assert api.post(f"/v1/sync/uploads/{j2}/revert").status_code == 401
    r = api.post(f"/v1/sync/uploads/{j1}/revert", headers=tokens.op)
    assert r.status_code == 409 and f"revert job {j2} first" in r.json()["detail"]
    assert api.post("/v1/sync/uploads/999999/revert", headers=tokens.op).status_code == 404
    assert api.post("/v1/sync/uploads/0/revert", headers=tokens.op).status_code == 422
    units_job = min(j for (j,) in _sql("SELECT id FROM data_ingestion_jobs"
                                       " WHERE job_type = 'unit_sync'"))
    r = api.post(f"/v1/sync/uploads/{units_job}/revert", headers=tokens.op)
    assert r.status_code == 422 and "only factor and data entry uploads" in r.json()["detail"]
    entries_job = min(j for (j,) in _sql("SELECT id FROM data_ingestion_jobs"
                                         " WHERE job_type = 'csv_ingest'"))
    # The first entry upload of its scope is revertible (it empties the type:
    # tests/console/test_first_upload_revert.py); previewed here, so nothing changes.
    r = api.post(f"/v1/sync/uploads/{entries_job}/revert?preview=true", headers=tokens.op)
    assert r.status_code == 202, r.text
    wait_done(r.json()["pipeline_id"])

    r = api.post(f"/v1/sync/uploads/{j2}/revert", headers=tokens.op)
    assert r.status_code == 202, r.text
    acc = r.json()
    wait_done(acc["pipeline_id"])
    assert _state() == before
    revert_job = acc["job_id"]
    # The revert is an upload like any other: its changes are in the history, by its author.
    changes = _sql("SELECT f.classification->>'equipment_class', f.classification->>'sub_class',"
                   " h.change, h.changed_by FROM factor_history h JOIN factors f"
                   " ON f.id = h.factor_id WHERE h.job_id = :j ORDER BY h.factor_id",
                   j=revert_job)
    assert sorted(changes, key=str) == sorted([
        ("Laptop", None, "updated", "ops-alice"), ("Desktop", None, "revived", "ops-alice"),
        ("Tablet", None, "retired", "ops-alice"), ("Laptop", "Standard", "retired",
                                                   "ops-alice")], key=str)
    # Reverting j2 again: the revert is now the later upload of the scope.
    r = api.post(f"/v1/sync/uploads/{j2}/revert", headers=tokens.op)
    assert r.status_code == 409 and f"job {revert_job}" in r.json()["detail"]
    # The very first upload created the type's factors: nothing an upload could restore.
    with session_scope() as s:
        s.execute(text("DELETE FROM data_ingestion_jobs WHERE id > :j AND job_type ="
                       " 'factor_ingest'"), {"j": j0})
    r = api.post(f"/v1/sync/uploads/{j0}/revert", headers=tokens.op)
    assert r.status_code == 409 and "first factors of it" in r.json()["detail"]


def test_cli_revert(db: str, worker: Any) -> None:
    _base(BASE)
    before = _state()
    j = _upload("factors", _csv({**BASE, ("Desktop", ""): 0.9}), module=4, det=11,
                recalculate=True)
    out = CliRunner().invoke(cli, ["revert", str(j), "--wait"])
    assert out.exit_code == 0, out.output
    assert _state() == before
    out = CliRunner().invoke(cli, ["revert", str(j)])
    assert out.exit_code == 1 and "was reverted already, by job" in out.stderr


def _entry_state() -> tuple[Any, ...]:
    """Entries (by equipment id, without ids), their rows and the module stats."""
    rows = sorted(_sql(
        "SELECT d.data->>'equipment_id', d.data->>'active_usage_hours_per_week',"
        " e.emission_type_id, e.kg_co2eq, e.primary_factor_id FROM data_entries d"
        " LEFT JOIN data_entry_emissions e ON e.data_entry_id = d.id"
        " WHERE d.data_entry_type_id = 11"), key=str)
    stats = [{k: v for k, v in module_stats(u, 4, YEAR).items() if k != "computed_at"}
             for u in ("LAB-A", "LAB-B")]
    return rows, stats


def test_revert_of_a_data_entry_upload_restores_the_previous_entries(
        api: TestClient, tokens: Tokens) -> None:
    _base(BASE)
    before = _entry_state()
    first = max(j for (j,) in _sql("SELECT id FROM data_ingestion_jobs"
                                   " WHERE job_type = 'csv_ingest'"))
    replacement = ENTRIES.splitlines()[0] + "\nUA,IT-9,Laptop 9,Laptop,,99,1\n"
    j = _upload("data-entries", replacement, module=4, det=11)
    assert _entry_state() != before
    r = api.post(f"/v1/sync/uploads/{j}/revert", headers=tokens.op)
    assert r.status_code == 202, r.text
    wait_done(r.json()["pipeline_id"])
    assert _entry_state() == before
    # j is undone: reverting it again is refused; the first upload, now the last one in
    # effect, can be reverted in its turn (test_revert_chain.py): it had none before.
    r = api.post(f"/v1/sync/uploads/{j}/revert", headers=tokens.op)
    assert r.status_code == 409 and "was reverted already" in r.json()["detail"]
    r = api.post(f"/v1/sync/uploads/{first}/revert", headers=tokens.op)
    assert r.status_code == 202, r.text
    wait_done(r.json()["pipeline_id"])
    assert _entry_state()[0] == []


def _sql(q: str, **params: Any) -> list[tuple[Any, ...]]:
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(q), params)]


_KEYS = [(c, "") for c in CLASSES] + [("Laptop", "Standard"), ("Desktop", "Workstation")]
_EF = st.sampled_from([0.05, 0.1, 0.123456789, 0.2, 1.5])
_SETS = st.dictionaries(st.sampled_from(_KEYS), _EF, min_size=1, max_size=len(_KEYS))


@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=_SETS, base=_SETS, revision=_SETS, merge=st.booleans())
def test_revert_after_upload_is_identity(pg_database: str, worker: Any, first: FactorSet,
                                         base: FactorSet, revision: FactorSet,
                                         merge: bool) -> None:
    """Random revisions (values changed, factors added, retired, revived — ``first`` has
    factors ``base`` retires and ``revision`` may revive; kind-only fallbacks through the
    sub-classed entries; merge or replace): upload then revert gives back exactly the live
    factors, the emission rows and the module stats of before."""
    wait_idle()
    truncate_all()
    _upload("units", UNITS_CSV)
    _upload("factors", _csv(first), module=4, det=11)
    _upload("data-entries", ENTRIES, module=4, det=11)
    _upload("factors", _csv(base), module=4, det=11, recalculate=True)
    before = _state()
    j = _upload("factors", _csv(revision), module=4, det=11, recalculate=True,
                mode="merge" if merge else "replace")
    with session_scope() as s:
        plan = plan_factor_revert(s, j)
    acc = ops.start_upload("factors", plan.content, filename=plan.filename, module=4, det=11,
                           year=YEAR, recalculate=True, created_by="revert-test")
    assert wait_done(acc.pipeline_id).status in ("SUCCESS", "WARNING")
    assert _state() == before
