"""The console's impact preview over HTTP (carbon_api/console/preview_pages.py): "Preview
impact" on the factor card starts a preview with the upload's checks and sentences; its
panel shows exactly the API's figures (GET /v1/sync/previews/{id}); operators apply it (the
normal upload + recalculation, which then holds the previewed totals) or discard it;
viewers see no buttons and are refused; an input changed since the preview (409) and an
expired preview (410) are said plainly; entries losing their factor are red."""

from __future__ import annotations

import math
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops
from tests.integration.api_support import row_counts

from .html_tables import rows
from .html_tables import text as plain
from .support import EQUIPMENT, F_HEADER, IT, YEAR, run, seed_equipment, sign_in, wait_pipeline

pytestmark = pytest.mark.integration
REVISED = F_HEADER + "Laptop,Standard,100,10,0.3\n"
HX = {"HX-Request": "true"}


def _form(**extra: str) -> dict[str, str]:
    return {"kind": "factors", "year": str(YEAR), "module": str(EQUIPMENT), "det": str(IT),
            "mode": "replace", "card": f"factors-{EQUIPMENT}", **extra}


def start(client: httpx.Client, csrf: str, body: str = REVISED, **extra: str) -> httpx.Response:
    return client.post("/console/previews", headers={"X-CSRF-Token": csrf, **HX},
                       data=_form(**extra), files={"file": ("revised.csv", body, "text/csv")})


def computed(client: httpx.Client, answer: httpx.Response) -> tuple[int, str]:
    """The preview started by ``answer``, once its job ended: (id, the panel's HTML)."""
    assert answer.status_code == 200, answer.text
    pid = int(re.search(r'data-preview="(\d+)"', answer.text).group(1))  # type: ignore[union-attr]
    pipeline = re.search(r'data-preview-pipeline="([0-9a-f-]{36})"', answer.text)
    assert pipeline, answer.text
    assert wait_pipeline(pipeline.group(1)) == "SUCCESS"
    panel = client.get(f"/console/previews/{pid}", headers=HX)
    assert panel.status_code == 200
    return pid, panel.text


def api_preview(client: httpx.Client, token: str, pid: int) -> dict[str, Any]:
    r = client.get(f"/v1/sync/previews/{pid}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _values(row: Any) -> tuple[float, float, float]:
    return tuple(float(v) for v in row.values[1:4])  # type: ignore[return-value,arg-type]


def _ef() -> float:
    with session_scope() as s:
        return float(s.execute(text("SELECT (\"values\"->>'ef_kg_co2eq_per_kwh')::float"
                                    " FROM factors WHERE retired_at IS NULL")).scalar_one())


def _module_total() -> float:
    with session_scope() as s:
        return float(s.execute(text(
            "SELECT sum((m.stats->>'total')::float) FROM carbon_report_modules m"
            " JOIN carbon_reports r ON r.id = m.carbon_report_id"
            " WHERE r.year = :y AND m.module_type_id = 4"), {"y": YEAR}).scalar_one())


def test_panel_shows_the_api_figures_and_apply_holds_them(http: httpx.Client,
                                                          tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=6, types=(IT,))
    csrf = sign_in(http, tokens["operator"])
    page = http.get(f"/console/data/{YEAR}").text
    assert (f'id="preview-factors-{EQUIPMENT}" formaction="/console/previews" '
            f'hx-post="/console/previews"') in page
    before_rows = row_counts()
    pid, panel = computed(http, start(http, csrf))
    assert row_counts()["factors"] == before_rows["factors"]  # nothing applied
    assert _ef() == 0.1
    api = api_preview(http, tokens["operator"], pid)
    fig = api["figures"]

    t = fig["total"]
    assert re.search(rf'data-before="{t["before"]!r}" data-after="{t["after"]!r}" '
                     rf'data-delta="{t["delta"]!r}"', panel), panel
    assert f"{t['before']:,.3f} → {t['after']:,.3f} kg CO2-eq ( {t['delta']:+,.3f}" in plain(panel)
    [module] = rows(panel, "Change by module")
    assert _values(module) == tuple(fig["by_module"][0][k] for k in ("before", "after", "delta"))
    assert module.cells[0] == "Equipment"
    units = rows(panel, "Change by unit")
    assert {u.cells[0]: _values(u) for u in units} == {
        u["unit"]: (u["before"], u["after"], u["delta"]) for u in fig["by_unit"]}
    for u in units:
        assert u.cells[1:4] == [f"{v:,.3f}" if i < 2 else f"{v:+,.3f}"
                                for i, v in enumerate(_values(u))]
    [types] = rows(panel, "Entries by type")
    e = fig["entries"][0]
    assert types.cells[1:] == [str(e[k]) for k in ("entries", "affected", "losing_factor",
                                                    "losing_rows")] == ["6", "6", "0", "0"]
    top = rows(panel, "Largest changes")
    assert [int(r.values[0] or 0) for r in top] == [c["data_entry_id"]
                                                     for c in fig["top_changes"]]
    for r, c in zip(top, fig["top_changes"], strict=True):
        assert r.values[2:5] == [repr(c["before"]), repr(c["after"]),
                                                          repr(c["delta"])]
        assert "losing" not in r.attrs
    assert "1 updated" in plain(panel) and "No entry loses its factor." in plain(panel)
    assert f'id="preview-apply-{pid}"' in panel and f'id="preview-discard-{pid}"' in panel

    # A viewer sees the same figures but no button, and is refused if it posts anyway.
    with httpx.Client(base_url=http.base_url, timeout=30) as viewer:
        vcsrf = sign_in(viewer, tokens["viewer"])
        seen = viewer.get(f"/console/previews/{pid}", headers=HX).text
        assert rows(seen, "Change by unit") == units
        assert "preview-apply-" not in seen and "preview-discard-" not in seen
        assert "an operator can apply or discard" in seen
        assert re.search(r'<button type="submit" class="preview" id="preview-factors-4" '
                         r'disabled', viewer.get(f"/console/data/{YEAR}").text)
        assert viewer.post(f"/console/previews/{pid}/apply",
                           headers={"X-CSRF-Token": vcsrf}).status_code == 403
        assert viewer.post("/console/previews", headers={"X-CSRF-Token": vcsrf},
                           data=_form(), files={"file": ("r.csv", REVISED)}).status_code == 403

    # Apply: without the CSRF token refused; then the normal upload + recalculation.
    assert http.post(f"/console/previews/{pid}/apply").status_code == 403
    r = http.post(f"/console/previews/{pid}/apply", headers={"X-CSRF-Token": csrf, **HX})
    assert r.status_code == 200, r.text
    assert "factors upload accepted" in r.text
    applied = re.search(r'data-pipeline="([0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
    assert wait_pipeline(applied) == "SUCCESS"
    assert _ef() == 0.3
    assert math.isclose(_module_total(), fig["by_module"][0]["after"], rel_tol=1e-12)
    again = http.get(f"/console/previews/{pid}", headers=HX).text
    assert "Applied: factor upload job" in again and "preview-apply-" not in again
    r = http.post(f"/console/previews/{pid}/apply", headers={"X-CSRF-Token": csrf, **HX})
    assert r.status_code == 409 and "was already applied" in r.text


def test_changed_input_expiry_discard_and_losing_factor(http: httpx.Client,
                                                        tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=4, types=(IT,))
    csrf = sign_in(http, tokens["operator"])
    # A replace-mode file without the laptop: every laptop entry would lose its factor.
    pid, panel = computed(http, start(http, csrf, F_HEADER + "Desktop,,200,20,0.1\n"))
    fig = api_preview(http, tokens["operator"], pid)["figures"]
    assert fig["losing_factor_count"] == 4
    losing = rows(panel, "Entries losing their factor")
    assert [int(r.cells[0]) for r in losing] == [c["data_entry_id"] for c in fig["losing_factor"]]
    assert all("losing" in r.attrs for r in losing)
    assert all("losing" in r.attrs for r in rows(panel, "Largest changes"))
    assert "4 entries would lose their factor" in plain(panel)

    # An input changed since: a factor upload of the module and year.
    assert run(ops.start_upload("factors", (F_HEADER + "Laptop,Standard,100,10,0.2\n").encode(),
                                module=EQUIPMENT, det=IT, year=YEAR, created_by="other")) \
        == "SUCCESS"
    r = http.post(f"/console/previews/{pid}/apply", headers={"X-CSRF-Token": csrf, **HX})
    assert r.status_code == 409, r.text
    assert "An input changed since the preview." in plain(r.text)
    assert "changed the inputs of this module and year" in r.text
    assert _ef() == 0.2  # nothing applied

    # Expired.
    pid, _ = computed(http, start(http, csrf))
    with session_scope() as s:
        s.execute(text("UPDATE upload_previews SET expires_at = now() - interval '1 minute'"
                       " WHERE id = :i"), {"i": pid})
    assert "expired" in http.get(f"/console/previews/{pid}", headers=HX).text
    r = http.post(f"/console/previews/{pid}/apply", headers={"X-CSRF-Token": csrf, **HX})
    assert r.status_code == 410 and "This preview expired." in plain(r.text)

    # Discard: gone from the console and the API; nothing applied.
    pid, _ = computed(http, start(http, csrf))
    r = http.post(f"/console/previews/{pid}/discard", headers={"X-CSRF-Token": csrf, **HX})
    assert r.status_code == 200 and f"Preview {pid} discarded" in r.text
    assert http.get(f"/console/previews/{pid}", headers=HX).status_code == 404
    assert http.get(f"/v1/sync/previews/{pid}",
                    headers={"Authorization": f"Bearer {tokens['operator']}"}).status_code == 404
    assert _ef() == 0.2


def test_bad_files_get_the_uploads_sentences_and_write_nothing(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=2, types=(IT,))
    csrf = sign_in(http, tokens["operator"])
    bad = "equipment_class,sub_class,active_power_w\nLaptop,Standard,100\n"
    api = http.post(f"/v1/sync/factors/{EQUIPMENT}", params={
        "year": YEAR, "data_entry_type_id": IT, "preview": "true"},
        headers={"Authorization": f"Bearer {tokens['operator']}"},
        files={"file": ("bad.csv", bad, "text/csv")})
    assert api.status_code == 400
    before = row_counts()
    r = start(http, csrf, bad)
    assert r.status_code == 400 and plain(r.text) == api.json()["detail"]
    for extra, status, sentence in (({"kind": "data-entries"}, 422, "Only a factor upload"),
                                    ({"det": "1"}, 422, "does not belong to module 4"),
                                    ({"mode": "append"}, 422, "“replace” or “merge”"),
                                    ({"year": "1900"}, 422, "A year between")):
        r = start(http, csrf, **extra)
        assert r.status_code == status and sentence in r.text, (extra, r.text)
    r = http.post("/console/previews", headers={"X-CSRF-Token": csrf, **HX}, data=_form())
    assert r.status_code == 415  # not a multipart form, as the upload answers
    r = http.post("/console/previews", headers={"X-CSRF-Token": csrf, **HX}, data=_form(),
                  files={"file": ("", b"", "text/csv")})
    assert r.status_code == 422 and "Choose a CSV file first" in r.text
    assert row_counts() == before
    assert http.get("/console/previews/999999", headers=HX).status_code == 404
    assert http.get("/console/previews/0").status_code == 422
    # Without htmx (a plain form post) the browser goes to the preview's page.
    r = http.post("/console/previews", headers={"X-CSRF-Token": csrf}, data=_form(),
                  files={"file": ("r.csv", REVISED, "text/csv")}, follow_redirects=False)
    assert r.status_code == 303 and re.fullmatch(r"/console/previews/\d+", r.headers["location"])
    page = http.get(r.headers["location"])
    assert page.status_code == 200 and "<h1>Impact preview" in page.text
    assert 'data-stream="/console/events?year=2025"' in page.text


def test_a_preview_whose_job_fails_shows_why_and_cannot_be_applied(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=2, types=(IT,))
    csrf = sign_in(http, tokens["operator"])
    r = start(http, csrf, F_HEADER + "Laptop,Standard,lots,10,0.3\n")  # a row the ingest refuses
    assert r.status_code == 200, r.text
    pid = int(re.search(r'data-preview="(\d+)"', r.text).group(1))  # type: ignore[union-attr]
    pipeline = re.search(r'data-preview-pipeline="([0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
    assert wait_pipeline(pipeline) != "SUCCESS"
    api = api_preview(http, tokens["operator"], pid)
    assert api["figures"] is None and api["result"] == "ERROR"
    panel = http.get(f"/console/previews/{pid}", headers=HX).text
    assert f"The preview has no figures: {api['message']}" in plain(panel)
    assert f'data-pipeline="{pipeline}"' in panel  # its card, with the row errors
    assert "preview-apply-" not in panel and "data-preview-pipeline" not in panel
    r = http.post(f"/console/previews/{pid}/apply", headers={"X-CSRF-Token": csrf, **HX})
    assert r.status_code == 409 and "has no figures" in r.text
    assert _ef() == 0.1


def test_a_revert_is_previewed_before_it_is_applied(http: httpx.Client,
                                                     tokens: dict[str, str]) -> None:
    """"Preview this revert" on a factor upload's pipeline details: the panel shows what
    undoing it would do (the API's revert preview, nothing written), and its Apply runs the
    revert's upload, which restores the factor the preview said it would."""
    seed_equipment(entries_per_type=6, types=(IT,))
    acc = ops.start_upload("factors", REVISED.encode(), module=EQUIPMENT, det=IT, year=YEAR,
                           created_by="reviser")
    assert run(acc) == "SUCCESS" and _ef() == 0.3
    with session_scope() as s:
        job = int(s.execute(text("SELECT max(id) FROM data_ingestion_jobs"
                                 " WHERE job_type = 'factor_ingest'")).scalar_one())
    csrf = sign_in(http, tokens["operator"])
    detail = http.get(f"/console/pipelines/{acc.pipeline_id}").text
    url = f"/console/uploads/{job}/revert/preview"
    assert f'action="{url}"' in detail and "Preview this revert" in detail
    assert http.post(url).status_code == 403  # no CSRF token
    with httpx.Client(base_url=str(http.base_url), timeout=30) as viewer:
        vcsrf = sign_in(viewer, tokens["viewer"])
        assert viewer.post(url, headers={"X-CSRF-Token": vcsrf}).status_code == 403
    before_rows = row_counts()
    r = http.post(url, headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    api = api_preview(http, tokens["operator"], pid)
    assert api["reverts_job_id"] == job and api["kind"] == "factors"
    assert wait_pipeline(api["pipeline_id"]) == "SUCCESS"
    assert row_counts()["factors"] == before_rows["factors"] and _ef() == 0.3  # nothing yet
    fig = api_preview(http, tokens["operator"], pid)["figures"]
    [change] = fig["factors"]["changes"]
    assert (change["values_before"]["ef_kg_co2eq_per_kwh"],
            change["values_after"]["ef_kg_co2eq_per_kwh"]) == (0.3, 0.1)
    panel = http.get(f"/console/previews/{pid}", headers=HX)
    assert panel.status_code == 200 and f'id="preview-apply-{pid}"' in panel.text
    r = http.post(f"/console/previews/{pid}/apply", headers={"X-CSRF-Token": csrf, **HX})
    assert r.status_code == 200, r.text
    applied = re.search(r'data-pipeline="([0-9a-f-]{36})"', r.text).group(1)  # type: ignore[union-attr]
    assert wait_pipeline(applied) == "SUCCESS"
    assert _ef() == 0.1
    assert math.isclose(_module_total(), fig["by_module"][0]["after"], rel_tol=1e-12)
    # The revert is now the later upload of the scope: a second preview is refused, named.
    r = http.post(url, headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert r.status_code == 409 and "revert" in r.text
