"""``carbon seed`` end to end on PostgreSQL + Redis with a real worker: a small synthetic
university generated, uploaded file by file through the ingest path, recalculated and
aggregated, with every entry matched by a factor."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from carbon_api.cli import app
from carbon_domain.db.models import CarbonReportModule, DataEntry, Factor, Pipeline, Unit
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.status import year_status

from .helpers import count

pytestmark = pytest.mark.integration
runner = CliRunner()
YEAR = 2025


def _one_line_error(result: Any, fragment: str) -> None:
    assert result.exit_code != 0
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_seed_loads_a_clean_university_through_the_ingest_path(db, worker, tmp_path: Path
                                                               ) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["seed", "--units", "5", "--entries", "2000", "--year",
                                 str(YEAR), "--out", str(tmp_path / "seed"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    loaded = out["load"]["files"]
    assert out["load"]["ok"] and len(loaded) == len(out["manifest"]["files"]) == 48
    assert [f["status"] for f in loaded] == ["SUCCESS"] * 48

    with session_scope() as s:
        statuses = s.scalars(select(Pipeline.status)).all()
        stats = [m for (m,) in s.execute(select(CarbonReportModule.stats))]
        unmatched = s.scalar(text(
            "SELECT count(*) FROM data_entries d WHERE NOT EXISTS (SELECT 1 FROM"
            " data_entry_emissions e WHERE e.data_entry_id = d.id)"))
        status = [asdict(m) for m in year_status(s, YEAR)]
        n_units = s.scalar(select(func.count()).select_from(Unit))
    assert len(statuses) == 48 and set(statuses) == {"SUCCESS"}
    assert count(DataEntry) == 2000
    assert n_units == out["manifest"]["totals"]["units"]
    assert len(stats) == n_units * 8 and all(stats), "every module of every report has stats"
    assert sum(m["entry_count"] for m in stats) == 2000
    assert all(m["missing_factors"] == 0 for m in stats)
    assert unmatched == 0
    assert sum(m["total"] for m in stats) > 0
    assert not any(m["needs_recalculation"] for m in status)


def test_seed_refreshes_facility_factors_from_the_facility_units(db, worker, tmp_path: Path
                                                                 ) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["seed", "--units", "3", "--entries", "600", "--year",
                                 str(YEAR), "--out", str(tmp_path / "s"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "Loaded 48 files" in result.stdout
    with session_scope() as s:
        (factor,) = s.scalars(select(Factor).where(Factor.data_entry_type_id == 70)).all()
        facility_kg = s.scalar(text(
            "SELECT sum(e.kg_co2eq) FROM data_entry_emissions e JOIN data_entries d ON"
            " d.id = e.data_entry_id JOIN units u ON u.id = d.unit_id WHERE"
            " u.institutional_id = :f AND d.data_entry_type_id NOT IN (70, 71)"),
            {"f": factor.classification["researchfacility_id"]})
    # The uploaded placeholder was replaced by the facility unit's own emissions.
    assert factor.values["kg_co2eq_sum"] == pytest.approx(facility_kg)
    assert facility_kg > 0


def test_generate_only_writes_files_and_touches_no_database(db, tmp_path: Path
                                                            ) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["seed", "--units", "2", "--entries", "100", "--year",
                                 str(YEAR), "--out", str(tmp_path), "--generate-only",
                                 "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)["manifest"]
    assert manifest["totals"]["entry_rows"] == 100
    assert (tmp_path / "manifest.json").exists()
    assert count(Pipeline) == 0


@pytest.mark.parametrize("args, fragment", [
    (["--entries", "-1"], "--entries must be between 0"),
    (["--units", "0"], "--units must be between 1"),
])
def test_a_bad_size_is_one_clear_line(db, tmp_path: Path, args: list[str], fragment: str
                                      ) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["seed", "--year", str(YEAR), "--out", str(tmp_path), *args])
    _one_line_error(result, fragment)
    assert not any(tmp_path.iterdir())
    assert count(Pipeline) == 0


def test_seeding_another_year_keeps_the_reference_data_of_the_first(db, worker, tmp_path: Path
                                                                    ) -> None:  # type: ignore[no-untyped-def]
    """Rooms, stations and exchange rates belong to no year. An operator who seeded 2025
    and then 2024 found 2025's buildings down from 3.26M to 2.58M kg: the 2024 seed's rooms
    file, uploaded in replace mode, retired the 600 rooms 2025's entries read. A seed adds
    its reference rows (merge) and retires nothing."""
    def building_rows() -> list[Any]:
        with session_scope() as s:
            return s.execute(text(
                "SELECT e.data_entry_id, e.emission_type_id, e.kg_co2eq FROM data_entry_emissions e"
                " JOIN data_entries d ON d.id = e.data_entry_id WHERE d.year = :y"
                " AND d.data_entry_type_id = 30 ORDER BY 1, 2"), {"y": YEAR}).all()

    def live_rooms() -> int:
        with session_scope() as s:
            return int(s.scalar(text("SELECT count(*) FROM building_rooms"
                                     " WHERE retired_by_job_id IS NULL")) or 0)

    first = runner.invoke(app, ["seed", "--units", "5", "--entries", "1000", "--year",
                                str(YEAR), "--seed", "1", "--out", str(tmp_path / "a"),
                                "--json"])
    assert first.exit_code == 0, first.output
    rows, rooms = building_rows(), live_rooms()
    assert rows and rooms
    second = runner.invoke(app, ["seed", "--units", "5", "--entries", "500", "--year",
                                 str(YEAR - 1), "--seed", "1", "--out", str(tmp_path / "b"),
                                 "--json"])
    assert second.exit_code == 0, second.output
    assert live_rooms() >= rooms
    with session_scope() as s:
        stale = [t.data_entry_type_id for m in year_status(s, YEAR) for t in m.data_entry_types
                 if t.needs_recalculation]
    assert 30 not in stale, "the first year's buildings lost nothing"
    assert building_rows() == rows


def test_a_seed_whose_files_skip_rows_says_so_instead_of_success(db, worker, tmp_path: Path
                                                                 ) -> None:  # type: ignore[no-untyped-def]
    """A second year seeded with another ``--units`` names units by other institutional ids:
    the units upload keeps their ids (docs/uploads.md) and skips those rows, and the year's
    entry files then skip every row of those units. Before, the load table said SUCCESS
    for each file and "Loaded 48 files": two thirds of the member rows were gone unseen."""
    first = runner.invoke(app, ["seed", "--units", "3", "--entries", "300", "--year",
                                str(YEAR), "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert "warnings" not in first.stdout
    result = runner.invoke(app, ["seed", "--units", "5", "--entries", "3000", "--year",
                                 str(YEAR - 1), "--out", str(tmp_path / "b"), "--json"])
    assert result.exit_code == 0, result.output
    files = {f["path"]: f for f in json.loads(result.stdout)["load"]["files"]}
    units = files["units.csv"]
    assert units["status"] == "SUCCESS"
    assert units["display_status"] == "SUCCESS_WITH_WARNINGS"
    assert len(units["warnings"]) == 1 and "rows skipped" in units["warnings"][0]
    skipped = [p for p, f in files.items() if p.startswith("data_entries/") and any(
        "unknown unit" in w for w in f["warnings"])]
    assert skipped, files
    assert all(files[p]["display_status"] == "SUCCESS_WITH_WARNINGS" for p in skipped)

    table = runner.invoke(app, ["seed", "--units", "5", "--entries", "3000", "--year",
                                str(YEAR - 1), "--out", str(tmp_path / "c")])
    assert table.exit_code == 0, table.output
    assert "SUCCESS ⚠ warnings" in table.stdout
    assert "⚠ units.csv: WARNING:" in table.stdout and "rows skipped" in table.stdout
    assert "with warnings (rows skipped or not computed" in table.stdout
