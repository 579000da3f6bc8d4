"""Undoing the first data entry upload of a scope, and applying any preview from the console.

Before: an upload to the wrong year or type could not be undone when it was the first of its
scope (revert answered 409 "there are no previous entries to restore", an empty file is
refused and there is no delete route), and the console's Apply uploaded every preview as a
factor file, so a data entry or reference preview could not be applied from the console.
Now the revert of a first upload empties the types it loaded (a header-only file whose job
carries them), previewed and applied like any revert, through the API, the CLI's path and
the console; the console's Apply uploads the previewed file as its own kind."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .support import EQUIPMENT, IT, SCIENTIFIC, YEAR, run, seed_equipment, sign_in, wait_pipeline

pytestmark = pytest.mark.integration
HX = {"HX-Request": "true"}


def _entries(det: int) -> int:
    with session_scope() as s:
        return int(s.execute(text("SELECT count(*) FROM data_entries WHERE data_entry_type_id"
                                  " = :d AND year = :y"), {"d": det, "y": YEAR}).scalar_one())


def _rows_kg(det: int | None = None) -> tuple[int, float]:
    with session_scope() as s:
        n, kg = s.execute(text(
            "SELECT count(*), coalesce(sum(kg_co2eq), 0) FROM data_entry_emissions"
            " WHERE year = :y AND (CAST(:d AS int) IS NULL OR data_entry_type_id = :d)"),
            {"y": YEAR, "d": det}).one()
    return int(n), float(kg)


def _module_total() -> float:
    with session_scope() as s:
        return float(s.execute(text(
            "SELECT coalesce(sum((m.stats->>'total')::float), 0) FROM carbon_report_modules m"
            " JOIN carbon_reports r ON r.id = m.carbon_report_id"
            " WHERE r.year = :y AND m.module_type_id = :m"),
            {"y": YEAR, "m": EQUIPMENT}).scalar_one())


def _entry_upload(det: int) -> int:
    with session_scope() as s:
        return int(s.execute(text(
            "SELECT max(id) FROM data_ingestion_jobs WHERE job_type = 'csv_ingest'"
            " AND data_entry_type_id = :d AND year = :y"), {"d": det, "y": YEAR}).scalar_one())


def _job(job_id: int) -> Any:
    with session_scope() as s:
        return s.execute(text("SELECT job_type, result, status_message FROM data_ingestion_jobs"
                              " WHERE id = :j"), {"j": job_id}).one()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_reverting_a_first_entry_upload_empties_its_type_and_the_stats_follow(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=6, types=(SCIENTIFIC, IT))
    first = _entry_upload(IT)
    assert _entries(IT) == 6 and _rows_kg(IT)[0] == 6
    scientific_kg = _rows_kg(SCIENTIFIC)[1]
    assert _module_total() == pytest.approx(_rows_kg()[1]) and scientific_kg > 0

    r = http.post(f"/v1/sync/uploads/{first}/revert", headers=_auth(tokens["operator"]))
    assert r.status_code == 202, r.text  # before: 409 "no previous entries to restore"
    assert wait_pipeline(r.json()["pipeline_id"]) == "SUCCESS"
    revert = int(r.json()["job_id"])
    job_type, result, message = _job(revert)
    assert (job_type, result) == ("csv_ingest", "SUCCESS")
    assert "6 entries removed" in message and "it" in message.lower(), message
    # The type is empty, its rows are gone, the other type is untouched, and the module's
    # statistics are those of the rows that are left.
    assert _entries(IT) == 0 and _rows_kg(IT) == (0, 0.0)
    assert _entries(SCIENTIFIC) == 6 and _rows_kg(SCIENTIFIC)[1] == pytest.approx(scientific_kg)
    assert _module_total() == pytest.approx(scientific_kg, rel=1e-12)

    # The revert is an upload of the scope like any other: undoing it loads the first file
    # again, and the totals come back.
    r = http.post(f"/v1/sync/uploads/{revert}/revert", headers=_auth(tokens["operator"]))
    assert r.status_code == 202, r.text
    assert wait_pipeline(r.json()["pipeline_id"]) == "SUCCESS"
    assert _entries(IT) == 6 and _rows_kg(IT)[0] == 6
    assert _module_total() == pytest.approx(_rows_kg()[1], rel=1e-12)


def test_an_upload_after_an_emptying_revert_is_reverted_to_empty(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    """The file of an emptying revert is a header alone; an upload after it is undone by
    emptying again, not by loading that header (which the ingest would refuse)."""
    seed_equipment(entries_per_type=6, types=(IT,))
    r = http.post(f"/v1/sync/uploads/{_entry_upload(IT)}/revert",
                  headers=_auth(tokens["operator"]))
    assert r.status_code == 202 and wait_pipeline(r.json()["pipeline_id"]) == "SUCCESS"
    assert _entries(IT) == 0
    rows = "".join(f"UB,E-again-{i},Laptop,Laptop,Standard,10,20\n" for i in range(2))
    header = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
              "active_usage_hours_per_week,standby_usage_hours_per_week\n")
    assert run(ops.start_upload("data-entries", (header + rows).encode(), module=EQUIPMENT,
                                det=IT, year=YEAR, created_by="again")) == "SUCCESS"
    assert _entries(IT) == 2 and _module_total() > 0
    r = http.post(f"/v1/sync/uploads/{_entry_upload(IT)}/revert",
                  headers=_auth(tokens["operator"]))
    assert r.status_code == 202, r.text
    assert wait_pipeline(r.json()["pipeline_id"]) == "SUCCESS"
    assert _entries(IT) == 0 and _rows_kg(IT) == (0, 0.0) and _module_total() == 0


def test_a_header_only_file_is_still_refused_from_operators(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    """Only a revert may empty a type: an operator's header-only file stays a clear 4xx and
    changes nothing."""
    seed_equipment(entries_per_type=4, types=(IT,))
    header = "unit_institutional_id,equipment_id,name,equipment_class,sub_class\n"
    r = http.post(f"/v1/sync/data-entries/{EQUIPMENT}", headers=_auth(tokens["operator"]),
                  params={"data_entry_type_id": IT, "year": YEAR},
                  files={"file": ("empty.csv", header, "text/csv")})
    assert r.status_code in (400, 422), r.text
    assert "no data rows" in r.text
    assert _entries(IT) == 4


def test_the_console_previews_and_applies_a_first_uploads_revert(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=6, types=(SCIENTIFIC, IT))
    first = _entry_upload(IT)
    scientific_kg = _rows_kg(SCIENTIFIC)[1]
    csrf = sign_in(http, tokens["operator"])
    url = f"/console/uploads/{first}/revert/preview"
    with session_scope() as s:
        pipeline = str(s.execute(text("SELECT pipeline_id FROM data_ingestion_jobs WHERE id = :j"),
                                 {"j": first}).scalar_one())
    detail = http.get(f"/console/pipelines/{pipeline}").text
    assert f'action="{url}"' in detail and "Preview this revert" in detail
    r = http.post(url, headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    view = http.get(f"/v1/sync/previews/{pid}", headers=_auth(tokens["operator"])).json()
    assert view["reverts_job_id"] == first and view["kind"] == "data-entries"
    assert wait_pipeline(view["pipeline_id"]) == "SUCCESS"
    assert _entries(IT) == 6  # a preview writes nothing
    fig = http.get(f"/v1/sync/previews/{pid}", headers=_auth(tokens["operator"])).json()[
        "figures"]
    [it] = [e for e in fig["entries"] if e["data_entry_type_id"] == IT]
    assert (it["entries_before"], it["entries"], it["removed"]) == (6, 0, 6), it
    it_kg = _rows_kg(IT)[1]
    [module] = fig["by_module"]  # the previewed slice's kg: all of `it` goes
    assert (module["before"], module["after"]) == (pytest.approx(it_kg, rel=1e-12), 0.0)

    r = http.post(f"/console/previews/{pid}/apply", headers={"X-CSRF-Token": csrf, **HX})
    assert r.status_code == 200, r.text  # before: refused as a factor file
    applied = re.search(r'data-pipeline="([0-9a-f-]{36})"', r.text)
    assert applied, r.text
    assert wait_pipeline(applied.group(1)) == "SUCCESS"
    assert _entries(IT) == 0 and _rows_kg(IT) == (0, 0.0)
    assert _module_total() == pytest.approx(scientific_kg, rel=1e-12)
    panel = http.get(f"/console/previews/{pid}", headers=HX).text
    assert "Applied: data entry upload job" in panel, panel


def test_the_console_applies_a_data_entry_preview_as_data_entries(
        http: httpx.Client, tokens: dict[str, str]) -> None:
    """A data entry file previewed through the API and applied from the console's panel is
    uploaded as data entries (before: as a factor file, refused for its columns)."""
    seed_equipment(entries_per_type=4, types=(IT,))
    rows = "".join(f"UA,E-new-{i},Laptop,Laptop,Standard,12,20\n" for i in range(3))
    header = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
              "active_usage_hours_per_week,standby_usage_hours_per_week\n")
    r = http.post(f"/v1/sync/data-entries/{EQUIPMENT}", headers=_auth(tokens["operator"]),
                  params={"data_entry_type_id": IT, "year": YEAR, "preview": "true"},
                  files={"file": ("three.csv", header + rows, "text/csv")})
    assert r.status_code == 202, r.text
    pid = int(r.json()["preview_id"])
    assert wait_pipeline(r.json()["pipeline_id"]) == "SUCCESS"
    csrf = sign_in(http, tokens["operator"])
    r = http.post(f"/console/previews/{pid}/apply", headers={"X-CSRF-Token": csrf, **HX})
    assert r.status_code == 200, r.text
    applied = re.search(r'data-pipeline="([0-9a-f-]{36})"', r.text)
    assert applied, r.text
    assert wait_pipeline(applied.group(1)) == "SUCCESS"
    assert _entries(IT) == 3
    assert _job(_entry_upload(IT))[0] == "csv_ingest"


def test_ops_refuse_clears_on_other_kinds() -> None:
    with pytest.raises(ValueError, match="cannot empty data entry types"):
        ops.start_upload("factors", b"x\n", module=EQUIPMENT, det=IT, year=YEAR, clears=[IT])
