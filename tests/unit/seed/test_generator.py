"""The synthetic university generator: deterministic, parseable by the upload parsers, and
clean (every entry gets emission rows from the engine) unless asked for misses."""

from __future__ import annotations

import csv
import itertools
import resource
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbon_domain import csv_rows
from carbon_domain.catalog import DEPENDS_ON_OTHER_MODULES, DataEntryType, ModuleType
from carbon_domain.csv_rows.factors import classification_key
from carbon_domain.engine import compute_batch
from carbon_domain.matching import FactorIndex, FactorRecord
from carbon_domain.reference import ReferenceData
from carbon_domain.seed import SeedFile, SeedManifest, entry_counts, generate

YEAR = 2025


def rows_of(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


def header_of(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def typed(f: SeedFile) -> tuple[ModuleType, DataEntryType]:
    assert f.module is not None and f.det is not None
    return ModuleType(f.module), DataEntryType(f.det)


def load_refs(m: SeedManifest) -> ReferenceData:
    (rooms,) = m.of_kind("building-rooms")
    return ReferenceData.build(rooms=[csv_rows.parse_room_row(r).as_tuple()
                                      for r in rows_of(m.path_of(rooms))])


def load_factors(m: SeedManifest) -> dict[int, list[FactorRecord]]:
    """Factors as the ingest stores them (parsed, then given ids)."""
    ids = itertools.count(1)
    out: dict[int, list[FactorRecord]] = defaultdict(list)
    for f in m.of_kind("factors"):
        module, det = typed(f)
        assert csv_rows.factor_header_problem(module, det, header_of(m.path_of(f))) is None
        identities = set()
        for row in rows_of(m.path_of(f)):
            p = csv_rows.parse_factor_row(module, det, row)
            assert p.det == det
            identities.add((p.emission_type_id, classification_key(p.classification)))
            out[det].append(FactorRecord(next(ids), p.emission_type_id, p.classification,
                                         p.values))
        # Distinct identities: an upsert would otherwise collapse rows of the file.
        assert len(identities) == f.rows, f.path
    return out


def load_entries(m: SeedManifest, refs: ReferenceData
                 ) -> dict[int, list[tuple[int, dict[str, Any]]]]:
    ids = itertools.count(1)
    units = {csv_rows.parse_unit_row(r).institutional_id
             for r in rows_of(m.path_of(m.of_kind("units")[0]))}
    out: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for f in m.of_kind("data-entries"):
        module, det = typed(f)
        assert csv_rows.entry_header_problem(module, det, header_of(m.path_of(f))) is None
        for row in rows_of(m.path_of(f)):
            e = csv_rows.parse_entry_row(module, det, row, refs=refs)
            assert e.det == det and e.unit_institutional_id in units
            out[det].append((next(ids), e.data))
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> SeedManifest:
    return generate(tmp_path_factory.mktemp("clean"), units=12, entries=6000, year=YEAR)


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", units=7, entries=3000, year=YEAR, seed=7)
    b = generate(tmp_path / "b", units=7, entries=3000, year=YEAR, seed=7)
    c = generate(tmp_path / "c", units=7, entries=3000, year=YEAR, seed=8)
    names = sorted(p.relative_to(a.out_dir) for p in a.out_dir.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b.out_dir) for p in b.out_dir.rglob("*") if p.is_file())
    for name in names:
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name
    assert [f.path for f in a.files] == [f.path for f in c.files]
    differ = [f.path for f in a.files
              if a.path_of(f).read_bytes() != c.path_of(f).read_bytes()]
    assert any(p.startswith("data_entries/") for p in differ)


def test_files_come_in_upload_order_one_factor_and_one_data_file_per_type(
        clean: SeedManifest) -> None:
    kinds = [f.kind for f in clean.files]
    assert kinds == ["units", "building-rooms", *["factors"] * 23, *["data-entries"] * 23]
    for kind in ("factors", "data-entries"):
        assert sorted(typed(f)[1] for f in clean.of_kind(kind)) == sorted(DataEntryType)
    # Facility types load last: their factors come from the other types' emissions.
    assert {f.det for f in clean.of_kind("data-entries")[-2:]} == {
        d.value for d in DEPENDS_ON_OTHER_MODULES}
    assert SeedManifest.read(clean.out_dir).files == clean.files


def test_row_counts_per_type_match_the_manifest_and_the_mix(clean: SeedManifest) -> None:
    counts = entry_counts(6000)
    for f in clean.files:
        assert sum(1 for _ in rows_of(clean.path_of(f))) == f.rows, f.path
        assert clean.path_of(f).stat().st_size == f.bytes
        if f.kind == "data-entries":
            assert f.rows == counts[typed(f)[1]] >= 1
    assert clean.totals["entry_rows"] == 6000
    assert clean.totals["factor_rows"] == sum(f.rows for f in clean.of_kind("factors"))


def test_units_form_a_hierarchy_and_facility_factors_name_seeded_units(
        clean: SeedManifest) -> None:
    units = [csv_rows.parse_unit_row(r) for r in rows_of(clean.path_of(clean.of_kind("units")[0]))]
    codes = {u.institutional_code for u in units}
    assert len(codes) == len(units) == len({u.institutional_id for u in units})
    assert all(u.parent_institutional_code in codes for u in units if u.level > 1)
    assert {u.level for u in units} == {1, 2, 3, 4}
    by_id = {u.institutional_id: u for u in units}
    for f in clean.of_kind("factors"):
        if f.det in (70, 71):
            for row in rows_of(clean.path_of(f)):
                assert by_id[row["researchfacility_id"]].level == 4


def test_every_row_parses_and_every_entry_gets_emission_rows(clean: SeedManifest) -> None:
    refs = load_refs(clean)
    factors = load_factors(clean)
    entries = load_entries(clean, refs)
    for det, batch in entries.items():
        res = compute_batch(det, batch, FactorIndex(det, factors[det], YEAR), refs)
        assert res.errors == [], (DataEntryType(det).name, res.errors[:3])
        assert res.missing == [], (DataEntryType(det).name, list(res.missing_reasons.items())[:3])
        assert {r[0] for r in res.rows} == {i for i, _ in batch}
        assert all(r[3] >= 0 for r in res.rows)


def test_multi_type_files_route_by_their_data_entry_type_column(clean: SeedManifest) -> None:
    refs = load_refs(clean)
    for f in clean.of_kind("data-entries"):
        row = next(rows_of(clean.path_of(f)))
        assert csv_rows.parse_entry_row(typed(f)[0], None, row, refs=refs).det == f.det
    for f in clean.of_kind("factors"):
        row = next(rows_of(clean.path_of(f)))
        assert csv_rows.parse_factor_row(typed(f)[0], None, row).det == f.det


def test_missing_rate_leaves_exactly_the_counted_entries_unmatched(tmp_path: Path) -> None:
    m = generate(tmp_path, units=6, entries=4000, year=YEAR, missing_rate=0.2)
    refs, factors = load_refs(m), load_factors(m)
    missing = 0
    for det, batch in load_entries(m, refs).items():
        res = compute_batch(det, batch, FactorIndex(det, factors[det], YEAR), refs)
        assert res.errors == []
        missing += len(res.missing)
        (f,) = [f for f in m.of_kind("data-entries") if f.det == det]
        assert len(res.missing) == f.unmatched
    assert missing == m.totals["unmatched_entries"] > 0


@pytest.mark.parametrize("kwargs, fragment", [
    ({"units": 0}, "--units"), ({"entries": -1}, "--entries"), ({"year": 1500}, "--year"),
    ({"missing_rate": 1.5}, "--missing-rate"),
])
def test_unusable_sizes_are_refused_with_one_sentence(tmp_path: Path, kwargs: dict[str, Any],
                                                      fragment: str) -> None:
    params: dict[str, Any] = {"units": 3, "entries": 100, "year": YEAR, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        generate(tmp_path, **params)
    assert not any(tmp_path.iterdir())


def test_tiny_seeds_skip_empty_types_and_the_split_is_exact() -> None:
    assert sum(entry_counts(5).values()) == 5
    assert sum(entry_counts(999_999).values()) == 999_999
    assert min(entry_counts(23).values()) == 1


def test_generating_200k_entries_keeps_memory_bounded(tmp_path: Path) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    try:
        m = generate(tmp_path, units=50, entries=200_000, year=YEAR)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert m.totals["entry_rows"] == 200_000
    assert peak < 20 * 1024 * 1024, f"peak traced allocation {peak / 2**20:.1f} MB"
    assert growth_mb < 100, f"RSS grew by {growth_mb:.0f} MB"
