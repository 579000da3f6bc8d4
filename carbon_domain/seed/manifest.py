"""The seed manifest: which files were written, in the order an operator uploads them.

Saved next to the files as ``manifest.json`` so a generated seed can be loaded later
(``SeedManifest.read(dir)``) without regenerating it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from carbon_domain.errors import Unusable
from carbon_domain.upload_kinds import MODULE_KINDS, REFERENCE_KINDS, YEARLESS_KINDS, UploadKind

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
# Upload kinds of carbon_tasks.operations.start_upload, in upload order.
KIND_ORDER = (*REFERENCE_KINDS, *MODULE_KINDS)


@dataclass(frozen=True, slots=True)
class SeedFile:
    path: str                 # relative to the manifest's directory
    kind: str                 # an upload kind (KIND_ORDER)
    module: int | None        # module type id (factors, data entries)
    det: int | None           # data entry type id (factors, data entries)
    rows: int                 # data rows, header excluded
    unmatched: int = 0        # data entries deliberately left without a factor
    bytes: int = 0


@dataclass(frozen=True)
class SeedManifest:
    out_dir: Path
    year: int
    seed: int
    units: int                # labs requested (``--units``)
    entries: int
    missing_rate: float
    files: tuple[SeedFile, ...]
    totals: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0      # generation time (not part of the file's determinism)

    def path_of(self, f: SeedFile) -> Path:
        return self.out_dir / f.path

    def of_kind(self, kind: str) -> list[SeedFile]:
        return [f for f in self.files if f.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "out_dir": str(self.out_dir), "year": self.year,
                "seed": self.seed, "units": self.units, "entries": self.entries,
                "missing_rate": self.missing_rate, "totals": dict(self.totals),
                "seconds": round(self.seconds, 3), "files": [asdict(f) for f in self.files]}

    def write(self) -> Path:
        target = self.out_dir / MANIFEST_NAME
        data = self.as_dict()
        data.pop("out_dir")
        data.pop("seconds")  # keep manifest.json byte-identical for the same inputs
        target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")
        return target

    @classmethod
    def read(cls, directory: Path) -> SeedManifest:
        try:
            data = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise Unusable(f"{directory / MANIFEST_NAME} is not valid JSON ({exc})") from None
        if data.get("format") != FORMAT_VERSION:
            raise Unusable(f"{directory / MANIFEST_NAME}: unsupported manifest format "
                           f"{data.get('format')!r}")
        return cls(out_dir=directory, year=data["year"], seed=data["seed"],
                   units=data["units"], entries=data["entries"],
                   missing_rate=data["missing_rate"],
                   files=tuple(SeedFile(**f) for f in data["files"]), totals=data["totals"])


def totals_of(files: list[SeedFile]) -> dict[str, int]:
    by = {k: sum(f.rows for f in files if f.kind == k) for k in KIND_ORDER}
    return {"files": len(files), "units": by[UploadKind.units],
            "reference_rows": sum(by[k] for k in YEARLESS_KINDS),
            "factor_rows": by[UploadKind.factors], "entry_rows": by[UploadKind.data_entries],
            "unmatched_entries": sum(f.unmatched for f in files),
            "bytes": sum(f.bytes for f in files)}
