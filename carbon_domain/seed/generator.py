"""Write a synthetic university as the CSV files an operator uploads (pure: no database).

Rows are streamed straight from seeded generators into ``csv.writer`` (never collected),
so memory is bounded by the university's size (units, rooms, factors), not the entry count.
Each file has its own random stream (``derived_rng``), so the same inputs always give the
same bytes and changing one type's count leaves the other files unchanged.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from carbon_domain.catalog import (
    DEPENDS_ON_OTHER_MODULES,
    MODULE_DATA_ENTRY_TYPES,
    MODULE_OF,
    DataEntryType,
)
from carbon_domain.csv_rows import UNIT_COLUMN
from carbon_domain.seed.kinds import SPECS, TypeSpec
from carbon_domain.seed.manifest import SeedFile, SeedManifest, totals_of
from carbon_domain.seed.plan import check_params, entry_counts, room_count
from carbon_domain.seed.sampling import Weighted, derived_rng
from carbon_domain.seed.university import Unit, University, build_university, iter_unit_rows
from carbon_domain.upload_kinds import UploadKind

ROUTING_COLUMN = "data_entry_type"
FACILITY_UNIT_WEIGHT = 3.0  # platforms are bigger than a typical lab
OnFile = Callable[[SeedFile], None]


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8", buffering=1 << 20) as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)
    return path.stat().st_size


def _routing(det: DataEntryType) -> tuple[str, ...]:
    # A module with several types gets a data_entry_type column, so each file can also be
    # uploaded by hand without naming the type (routing rule of csv_rows.routing).
    return (det.name,) if len(MODULE_DATA_ENTRY_TYPES[MODULE_OF[det]]) > 1 else ()


class _EntryStream:
    """Rows of one data entry file; counts the rows deliberately left unmatched."""

    def __init__(self, spec: TypeSpec, uni: University, units: Weighted[Unit], n: int,
                 rng: random.Random, missing_rate: float) -> None:
        self.spec, self.uni, self.units, self.n = spec, uni, units, n
        self.rng, self.missing_rate = rng, missing_rate
        self.unmatched = 0

    def __iter__(self) -> Iterator[tuple[object, ...]]:
        rows = self.spec.entries(self.uni, self.rng)
        row, miss = rows.row, (rows.miss if self.missing_rate > 0 else None)
        pick, rng, rate = self.units.pick, self.rng, self.missing_rate
        prefix = _routing(self.spec.det)
        for _ in range(self.n):
            unit = pick(rng)
            if miss is not None and rng.random() < rate:
                self.unmatched += 1
                cells = miss(unit)
            else:
                cells = row(unit)
            yield (unit.inst_id, *prefix, *cells)


def _unit_pickers(uni: University, seed: int) -> tuple[Weighted[Unit], Weighted[Unit]]:
    """(every reporting unit, labs only), weighted by a log-normal lab size: a few big
    labs carry much of the data, as in real institutions."""
    rng = derived_rng(seed, "unit-sizes")
    size = {u.code: rng.lognormvariate(0.0, 0.7) for u in uni.labs}
    size.update({f.unit.code: FACILITY_UNIT_WEIGHT for f in uni.facilities})
    return (Weighted((u, size[u.code]) for u in uni.reporting),
            Weighted((u, size[u.code]) for u in uni.labs))


def _upload_order() -> list[DataEntryType]:
    # Facility types last: their factors are computed from the facility units' emissions,
    # so every other type must be loaded (and recalculated) first.
    return sorted(DataEntryType, key=lambda d: (d in DEPENDS_ON_OTHER_MODULES, int(d)))


def generate(out_dir: Path, *, units: int, entries: int, year: int, seed: int = 42,
             missing_rate: float = 0.0, on_file: OnFile | None = None) -> SeedManifest:
    """Write units, building rooms, one factor file and one data entry file per type.

    ``units`` is the number of labs (level 4) that report data; faculties, institutes and
    research facility units are added around them. ``missing_rate`` is the share of
    entries of Strategy A types that deliberately match no factor (0 = a clean seed).
    """
    check_params(units=units, entries=entries, year=year, missing_rate=missing_rate)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    counts = entry_counts(entries)
    uni = build_university(labs=units, year=year, seed=seed, rooms=room_count(counts))
    files: list[SeedFile] = []

    def done(f: SeedFile) -> None:
        files.append(f)
        if on_file is not None:
            on_file(f)

    size = _write(out_dir / "units.csv", ("institutional_code", "institutional_id", "name",
                                          "level", "parent_institutional_code"),
                  iter_unit_rows(uni))
    done(SeedFile("units.csv", UploadKind.units, None, None, len(uni.units), bytes=size))
    size = _write(out_dir / "building_rooms.csv",
                  ("building_name", "room_name", "room_type", "room_surface_square_meter"),
                  ((r.building, r.name, r.room_type, r.surface) for r in uni.rooms))
    done(SeedFile("building_rooms.csv", UploadKind.building_rooms, None, None, len(uni.rooms),
                  bytes=size))
    for det in sorted(DataEntryType, key=int):
        spec = SPECS[det]
        rows = [(*_routing(det), *r) for r in spec.factors(uni, derived_rng(seed, f"f{det}"))]
        name = f"factors/{int(det):02d}_{det.name}.csv"
        header = (*(ROUTING_COLUMN for _ in _routing(det)), *spec.factor_columns)
        size = _write(out_dir / name, header, rows)
        done(SeedFile(name, UploadKind.factors, MODULE_OF[det].value, det.value, len(rows),
                      bytes=size))
    everyone, labs = _unit_pickers(uni, seed)
    for det in _upload_order():
        if counts[det] == 0:
            continue  # an empty upload is refused; tiny seeds skip the type
        spec = SPECS[det]
        stream = _EntryStream(spec, uni, labs if spec.labs_only else everyone, counts[det],
                              derived_rng(seed, f"e{det}"), missing_rate)
        name = f"data_entries/{int(det):02d}_{det.name}.csv"
        header = (UNIT_COLUMN, *(ROUTING_COLUMN for _ in _routing(det)), *spec.entry_columns)
        size = _write(out_dir / name, header, stream)
        done(SeedFile(name, UploadKind.data_entries, MODULE_OF[det].value, det.value, counts[det],
                      stream.unmatched, size))
    manifest = SeedManifest(out_dir, year, seed, units, entries, missing_rate, tuple(files),
                            totals_of(files), time.perf_counter() - started)
    manifest.write()
    return manifest
