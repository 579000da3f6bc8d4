"""Undoing two uploads in a row: after the last upload of a scope was reverted, the one
before it can be reverted too, and the scope comes back to its state before both.

A revert is refused while a later upload of the same scope exists ("revert job B first").
Before, that later upload stayed in the way after it was reverted: undoing A after
"revert B" answered "job B … changed them after job A: revert job B first"; reverting B
again answered "job C … changed them after job B: revert job C first", and reverting C
re-applied B — the sentence sent the operator round in a loop and A could never be undone.
An upload followed by its own finished revert changed nothing in the end: that pair is
passed over (the revert's job records ``reverts_job_id``, whether it was started directly —
API, CLI, console — or by applying a revert's preview).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon_tasks import operations as ops

from .api_support import Tokens
from .helpers import UNITS_CSV, emissions
from .helpers import wait_pipeline as wait_done
from .test_revert_upload import BASE, ENTRIES, _csv, _state, _upload

pytestmark = pytest.mark.integration
YEAR = 2025


def _revert(api: TestClient, tokens: Tokens, job_id: int, preview: bool = False) -> Any:
    r = api.post(f"/v1/sync/uploads/{job_id}/revert", headers=tokens.op,
                 params={"preview": "true"} if preview else None)
    return r


def _applied(api: TestClient, tokens: Tokens, job_id: int) -> int:
    """Revert ``job_id`` through its preview: preview, wait, apply; the revert's job."""
    r = _revert(api, tokens, job_id, preview=True)
    assert r.status_code == 202, r.text
    wait_done(r.json()["pipeline_id"])
    a = api.post(f"/v1/sync/previews/{r.json()['preview_id']}/apply", headers=tokens.op)
    assert a.status_code == 202, a.text
    assert wait_done(a.json()["pipeline_id"]).status in ("SUCCESS", "WARNING")
    return int(a.json()["job_id"])


def _done(r: Any) -> int:
    assert r.status_code == 202, r.text
    assert wait_done(r.json()["pipeline_id"]).status in ("SUCCESS", "WARNING")
    return int(r.json()["job_id"])


def test_two_factor_uploads_undone_in_turn(api: TestClient, tokens: Tokens) -> None:
    _upload("units", UNITS_CSV)
    _upload("factors", _csv(BASE), module=4, det=11)
    _upload("data-entries", ENTRIES, module=4, det=11)
    _upload("factors", _csv(BASE), module=4, det=11, recalculate=True)
    at_start = _state()
    a = _upload("factors", _csv({**BASE, ("Laptop", ""): 0.5}), module=4, det=11,
                recalculate=True)
    after_a = _state()
    b = _upload("factors", _csv({**BASE, ("Desktop", ""): 0.7, ("Tablet", ""): 0.9}),
                module=4, det=11, recalculate=True)
    c = _done(_revert(api, tokens, b))
    assert _state() == after_a
    # B is undone: A is the scope's last upload in effect.
    again = _revert(api, tokens, b)
    assert again.status_code == 409
    assert again.json()["detail"] == f"job {b} was reverted already, by job {c}"
    _done(_revert(api, tokens, a))
    assert _state() == at_start


def test_two_data_uploads_undone_through_their_previews(api: TestClient,
                                                        tokens: Tokens) -> None:
    _upload("units", UNITS_CSV)
    _upload("factors", _csv(BASE), module=4, det=11)
    lines = ENTRIES.splitlines(keepends=True)
    _upload("data-entries", "".join(lines[:4]), module=4, det=11)
    first = sorted((r[1], r[3]) for r in emissions(11))
    a = _upload("data-entries", "".join(lines[:6]), module=4, det=11)
    b = _upload("data-entries", ENTRIES, module=4, det=11)
    _applied(api, tokens, b)
    r = _revert(api, tokens, a, preview=True)
    assert r.status_code == 202, r.text  # before: 409 "revert job B first"
    _applied(api, tokens, a)
    assert sorted((r[1], r[3]) for r in emissions(11)) == first


def test_an_upload_whose_revert_has_not_landed_is_still_in_the_way(
        api: TestClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    _upload("units", UNITS_CSV)
    _upload("factors", _csv(BASE), module=4, det=11)
    a = _upload("factors", _csv({**BASE, ("Laptop", ""): 0.5}), module=4, det=11)
    b = _upload("factors", _csv({**BASE, ("Laptop", ""): 0.6}), module=4, det=11)
    with monkeypatch.context() as m:
        m.setattr(ops, "dispatch_jobs", lambda ids: None)  # the revert waits for a worker
        r = _revert(api, tokens, b)
    assert r.status_code == 202, r.text
    refused = _revert(api, tokens, a)
    assert refused.status_code == 409
    assert f"revert job {b} first" in refused.json()["detail"]
    api.post(f"/v1/sync/pipelines/{r.json()['pipeline_id']}/abort", headers=tokens.op)
