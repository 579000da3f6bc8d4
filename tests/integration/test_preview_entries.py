"""Impact preview of a data entry upload (POST /v1/sync/data-entries/{module}?preview=true)
and of a factor upload large enough to be measured in chunks on the workers, on PostgreSQL
with a real worker: the preview writes nothing; its before-figures are the stored rows; after
the apply (and its recalculation) the stored totals per (unit, module, emission type) are
its after-figures to the last digit; `allow_unknown_columns` is taken as by the upload;
chunked figures equal the one-process figures."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carbon_domain.db.models import DataIngestionJob
from carbon_domain.db.preview_models import UploadPreview
from carbon_domain.db.session import session_scope
from carbon_domain.services.preview.previews import compute_preview

from .api_support import Tokens, upload
from .helpers import jobs_of
from .helpers import wait_pipeline as wait_done
from .test_revert_upload import BASE, ENTRIES, _csv, _upload
from .test_upload_preview import REVISION, YEAR, _base, _previewed, _totals, _written

pytestmark = pytest.mark.integration
_ENTRIES = "/v1/sync/data-entries/4"
HEADER = ENTRIES.splitlines()[0]
REPLACEMENT = HEADER + "\n" + "".join(
    f"U{'AB'[i % 3 == 0]},IT-{i},{c} {i},{c},,{5 + 7 * i},{i}\n"
    for i, c in enumerate(["Laptop", "Laptop", "Monitor", "Desktop", "Laptop", "Tablet"]))


def _preview(api: TestClient, tokens: Tokens, path: str, body: str, **params: Any
             ) -> dict[str, Any]:
    r = upload(api, path, body, tokens.op, year=YEAR, preview="true", **params)
    assert r.status_code == 202, r.text
    acc = r.json()
    assert set(acc) >= {"job_id", "pipeline_id", "preview_id"}
    wait_done(acc["pipeline_id"])
    got = api.get(f"/v1/sync/previews/{acc['preview_id']}", headers=tokens.view)
    assert got.status_code == 200, got.text
    return got.json()


def _apply(api: TestClient, tokens: Tokens, preview_id: int) -> None:
    r = api.post(f"/v1/sync/previews/{preview_id}/apply", headers=tokens.op)
    assert r.status_code == 202, r.text
    assert wait_done(r.json()["pipeline_id"]).status in ("SUCCESS", "PARTIAL"), r.json()


def test_data_entry_preview_writes_nothing_and_the_apply_gives_its_totals(
        api: TestClient, tokens: Tokens) -> None:
    _base(BASE, BASE)
    before, stored = _written(), _totals()
    p = _preview(api, tokens, _ENTRIES, REPLACEMENT, data_entry_type_id=11)
    assert p["state"] == "FINISHED" and p["result"] == "SUCCESS", p
    assert p["kind"] == "data-entries" and p["module_type_id"] == 4 and p["year"] == YEAR
    assert _written() == before  # no entry, emission, factor or history row
    f = p["figures"]
    assert _previewed(f, "before") == stored
    (types,) = f["entries"]
    assert (types["entries_before"], types["entries"]) == (6, 6)
    assert types["added"] == 6 == types["removed"]  # replaced: new entries, new ids
    # The job's message counts them as such (it said "12 entries change" for 6 entries).
    (job,) = [j for j in jobs_of(p["pipeline_id"]) if j.id == p["job_id"]]
    assert "0 entries change, 6 removed, 6 added, total" in (job.status_message or "")
    assert types["without_factor"] == 1  # the Tablet: no factor in BASE
    assert f["upload"]["replaced"] == 6
    # The largest changes are per unit and type: entries have no "before" of their own.
    assert f["top_changes"] and all(c["data_entry_id"] is None and c["unit"] in ("LAB-A", "LAB-B")
                                    for c in f["top_changes"])
    assert sum(c["entries_after"] for c in f["top_changes"]) == 6

    assert api.post(f"/v1/sync/previews/{p['preview_id']}/apply",
                    headers=tokens.view).status_code == 403
    _apply(api, tokens, p["preview_id"])
    assert _totals() == _previewed(f, "after")


def test_data_entry_preview_refusals_and_unknown_columns(api: TestClient,
                                                        tokens: Tokens) -> None:
    _base(BASE, BASE)
    r = upload(api, _ENTRIES, REPLACEMENT, tokens.view, year=YEAR, data_entry_type_id=11,
               preview="true")
    assert r.status_code == 403
    r = upload(api, _ENTRIES, REPLACEMENT, tokens.op, year=2030, data_entry_type_id=11,
               preview="true")
    assert r.status_code == 409 and "upload the units for 2030" in r.json()["detail"]
    # A column that looks misspelt: the same 400 as the upload, unless allowed.
    typo = REPLACEMENT.replace("equipment_class", "equipment_clas", 1)
    as_upload = upload(api, _ENTRIES, typo, tokens.op, year=YEAR, data_entry_type_id=11)
    as_preview = upload(api, _ENTRIES, typo, tokens.op, year=YEAR, data_entry_type_id=11,
                        preview="true")
    assert as_preview.status_code == as_upload.status_code == 400
    assert as_preview.json() == as_upload.json()
    bad_factors = _csv(REVISION).replace("ef_kg_co2eq_per_kwh", "ef_kg_co2eq_per_kwhh", 1)
    as_upload = upload(api, "/v1/sync/factors/4", bad_factors, tokens.op, year=YEAR,
                       data_entry_type_id=11)
    as_preview = upload(api, "/v1/sync/factors/4", bad_factors, tokens.op, year=YEAR,
                        data_entry_type_id=11, preview="true")
    assert as_preview.status_code == as_upload.status_code
    assert as_preview.json() == as_upload.json()
    # Allowed: previewed (the misspelt column is ignored, as the upload would) and applied.
    extra = HEADER + ",equipmnt_class\n" + "".join(f"{line},x\n"
                                                   for line in REPLACEMENT.splitlines()[1:])
    refused = upload(api, _ENTRIES, extra, tokens.op, year=YEAR, data_entry_type_id=11,
                     preview="true")
    assert refused.status_code == 400, refused.text
    p = _preview(api, tokens, _ENTRIES, extra, data_entry_type_id=11,
                 allow_unknown_columns="true")
    assert p["allow_unknown_columns"] is True and p["result"] == "WARNING", p
    _apply(api, tokens, p["preview_id"])
    assert _totals() == _previewed(p["figures"], "after")


LARGE = HEADER + "\n" + "".join(
    f"U{'AB'[i % 2]},IT-{i},{c} {i},{c},{sub},{1 + i % 37},{i % 11}\n"
    for i, (c, sub) in enumerate([("Laptop", ""), ("Desktop", ""), ("Monitor", ""),
                                  ("Tablet", ""), ("Laptop", "Standard"),
                                  ("Desktop", "Workstation")] * 45))


def test_a_large_preview_is_measured_in_chunks_with_the_same_figures(
        api: TestClient, tokens: Tokens) -> None:
    """270 entries at chunk size 50 (past 4 chunks to compute): the preview is a chord of
    chunks on the workers; its figures are those the preview job computes alone, and the
    apply gives them."""
    from .helpers import UNITS_CSV
    _upload("units", UNITS_CSV)
    _upload("factors", _csv({**BASE, ("Tablet", ""): 0.4}), module=4, det=11)
    _upload("data-entries", LARGE, module=4, det=11)
    _upload("factors", _csv(BASE), module=4, det=11, recalculate=True)
    before = _written()
    p = _preview(api, tokens, "/v1/sync/factors/4", _csv(REVISION), data_entry_type_id=11)
    assert p["result"] == "SUCCESS", p
    assert _written() == before
    (job,) = [j for j in jobs_of(p["pipeline_id"]) if j.job_type == "factor_preview"]
    assert job.progress_total == 270 == job.progress_done  # the chunks' progress
    f = p["figures"]
    assert f["entries"][0]["entries"] == 270 and f["losing_factor_count"] == 90
    with session_scope() as s:  # the one-process figures of the same preview (rolled back)
        job_row = s.get(DataIngestionJob, p["job_id"])
        assert job_row is not None
        compute_preview(s, job_row, fan_out_at=None)
        alone = s.scalar(select(UploadPreview.figures).where(
            UploadPreview.id == p["preview_id"]))
        s.rollback()
    # Equal but for the ids of factors the file inserts (a sequence is never rolled back).
    def same(figs: dict[str, Any]) -> dict[str, Any]:
        listed = {k: [{**c, "factor_after": None} for c in figs[k]]
                  for k in ("top_changes", "losing_factor")}
        return {**{k: v for k, v in figs.items() if k != "factors"}, **listed}
    assert same(alone) == same(f)
    assert alone["factors"]["inserted"] == f["factors"]["inserted"] == 1
    _apply(api, tokens, p["preview_id"])
    assert _totals() == _previewed(f, "after")


def test_a_factor_preview_computes_only_the_planned_entries(api: TestClient,
                                                            tokens: Tokens) -> None:
    """One factor revised in a 270-entry slice: the preview computes only the entries the
    following recalculation rewrites (incremental planning), the rest keep their stored
    rows on both sides — and the apply still gives its after-figures to the last digit."""
    from .helpers import UNITS_CSV
    _upload("units", UNITS_CSV)
    _upload("factors", _csv(BASE), module=4, det=11)
    _upload("data-entries", LARGE, module=4, det=11)
    _upload("factors", _csv(BASE), module=4, det=11, recalculate=True)
    stored = _totals()
    p = _preview(api, tokens, "/v1/sync/factors/4", _csv({**BASE, ("Monitor", ""): 0.37}),
                 data_entry_type_id=11)
    f = p["figures"]
    assert f["computed"] == 45 and f["entries"][0]["entries"] == 270  # the 45 monitors
    assert f["entries"][0]["affected"] == 45 and _previewed(f, "before") == stored
    assert all(c["factor_before"] == c["factor_after"] for c in f["top_changes"])
    _apply(api, tokens, p["preview_id"])
    assert _totals() == _previewed(f, "after")
