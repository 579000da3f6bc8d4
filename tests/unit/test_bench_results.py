"""bench/results.py: how the bench's parts are merged into bench/results/latest.json, the
keys it names, and the median/min/max of repeated runs; bench/services.py's Redis URLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import old_system, results
from bench.services import redis_urls

META = {"date": "2026-12-06 16:00 UTC", "commit": "abc1234", "load_average": [[1.0], [1.2]],
        "machine": "x86_64", "cpus": 2, "python": "3.11.2"}


def test_summary_is_median_min_max_of_the_runs() -> None:
    assert results.summary([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0,
                                                "runs": [3.0, 1.0, 2.0]}
    # Even count: the mean of the two middle runs, as statistics.median.
    assert results.summary([4.0, 1.0])["median"] == 2.5
    with pytest.raises(ValueError):
        results.summary([])


def test_median_run_is_the_run_whose_time_is_reported() -> None:
    runs = [{"seconds": 5.0, "chunks": 1}, {"seconds": 2.0, "chunks": 2},
            {"seconds": 3.0, "chunks": 3}]
    assert results.median_run(runs)["chunks"] == 3
    assert results.median_run(runs[:2])["chunks"] == 2  # lower middle of an even count


def test_a_part_run_again_replaces_its_keys_and_keeps_the_other_parts() -> None:
    first = results.merge({}, {"full": {"pipeline_2w_s": 18.0, "rows": 10, "old_key": 1},
                               "ingest": {"ingest": {"factor_job_s": 1.0}}}, META)
    later = dict(META, date="2026-12-07 09:00 UTC", commit="def5678")
    second = results.merge(first, {"full": {"pipeline_2w_s": 15.0, "rows": 10}}, later)
    assert second["pipeline_2w_s"] == 15.0
    assert "old_key" not in second  # the part no longer writes it: not left stale
    assert second["ingest"] == {"factor_job_s": 1.0}  # part not run this time: kept
    assert second["parts"] == ["full"]
    assert second["date"] == later["date"] and second["commit"] == "def5678"
    assert second["by_part"]["ingest"]["date"] == META["date"]
    assert second["by_part"]["full"]["commit"] == "def5678"
    assert second["by_part"]["full"]["keys"] == ["pipeline_2w_s", "rows"]


def test_a_part_may_not_write_the_invocation_keys() -> None:
    with pytest.raises(ValueError, match="reserved"):
        results.merge({}, {"full": {"date": "x"}}, META)


def test_write_merges_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "results" / "latest.json"
    results.write(path, {"slice_it": {"slice": "it", "slice_it_2w_s": 0.5}}, META)
    results.write(path, {"stress": {"stress_8m_s": 70.0}}, META)
    data = json.loads(path.read_text())
    assert data["slice_it_2w_s"] == 0.5 and data["stress_8m_s"] == 70.0
    assert sorted(data["by_part"]) == ["slice_it", "stress"]
    assert not list(path.parent.glob("*.tmp"))


def test_a_file_that_is_not_results_is_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    path.write_text("[1, 2")
    assert results.read(path) == {}
    path.write_text("[1, 2]")
    assert results.read(path) == {}


@pytest.mark.parametrize(("entries", "label"), [
    (8_000_000, "8m"), (1_000_000, "1m"), (1_500_000, "1.5m"), (10_000, "10k"), (500, "500")])
def test_stress_keys_are_named_by_size(entries: int, label: str) -> None:
    assert f"stress_{label}_s" in results.stress_keys(entries, 1.0, {}, "2026-12-06")


def test_stress_vs_1m_only_against_a_1m_run_of_the_same_day() -> None:
    latest = results.merge({}, {"full": {"entries": 1_000_000, "pipeline_2w_s": 16.0}}, META)
    same_day = results.stress_keys(8_000_000, 120.0, latest, "2026-12-06")
    assert same_day["stress_8m_s"] == 120.0
    assert same_day["stress_vs_1m"] == pytest.approx(7.5)
    assert same_day["stress_1m_reference_s"] == 16.0
    assert results.stress_keys(8_000_000, 120.0, latest, "2026-12-07")["stress_vs_1m"] is None
    small = results.merge({}, {"full": {"entries": 10_000, "pipeline_2w_s": 2.0}}, META)
    assert results.stress_keys(8_000_000, 120.0, small, "2026-12-06")["stress_vs_1m"] is None


def test_the_old_systems_figures_and_the_unit_of_each_ratio() -> None:
    assert old_system.IT_ENTRIES_PER_S == 7_054.0
    assert old_system.MEMBER_ROWS_PER_S == 10_639.0
    assert old_system.ratio("it", 70_540.0, 1.0) == pytest.approx(10.0)
    assert old_system.ratio("member", 1.0, 106_390.0) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        old_system.ratio("plane", 1.0, 1.0)


@pytest.mark.parametrize(("given", "broker", "backend"), [
    ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379/9", "redis://127.0.0.1:6379/10"),
    ("redis://127.0.0.1:6379/", "redis://127.0.0.1:6379/9", "redis://127.0.0.1:6379/10"),
    ("redis://127.0.0.1:6390/3", "redis://127.0.0.1:6390/3", "redis://127.0.0.1:6390/4"),
    ("rediss://:pw@h:6380/0?ssl_cert_reqs=none", "rediss://:pw@h:6380/0?ssl_cert_reqs=none",
     "rediss://:pw@h:6380/1?ssl_cert_reqs=none"),
])
def test_redis_urls_use_the_given_database(given: str, broker: str, backend: str) -> None:
    assert redis_urls(given) == (broker, backend)


def test_redis_url_with_a_path_that_is_no_database_is_refused() -> None:
    with pytest.raises(ValueError, match="number"):
        redis_urls("redis://127.0.0.1:6379/x")


def _slice_run(kg: float, *, status: str = "SUCCESS", entries: int = 50_000,
               rows: int = 50_000) -> dict[str, object]:
    return {"status": status, "entries": entries, "rows": rows, "totals": (50_000, kg)}


def test_slice_runs_agree_up_to_the_float_sums_order() -> None:
    from bench.slices import runs_agree

    # Three runs of the 50k `it` slice (2026-12-06): equal but for the summation order.
    same = [_slice_run(3017027.0873600505), _slice_run(3017027.0873600356),
            _slice_run(3017027.087360056)]
    assert runs_agree(same, 50_000)
    # bench.floor.same_totals: relative 1e-6, the floor check's tolerance (here ~3 kg)
    assert not runs_agree([*same, _slice_run(3017037.0)], 50_000)
    assert not runs_agree([*same, _slice_run(3017027.0873600505, status="ERROR")], 50_000)
    assert not runs_agree([*same, _slice_run(3017027.0873600505, entries=49_999)], 50_000)
    assert not runs_agree([*same, _slice_run(3017027.0873600505, rows=49_000)], 50_000)
    assert not runs_agree([], 50_000)
