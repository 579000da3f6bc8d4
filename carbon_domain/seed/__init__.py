"""A deterministic synthetic university, written as the CSV files an operator uploads.

    >>> from carbon_domain.seed import generate
    >>> manifest = generate(Path("/tmp/seed"), units=20, entries=5000, year=2025)

Pure domain code: nothing here touches the database. ``carbon_tasks.seeding.load_seed``
uploads the files through the ingest path, in the manifest's order.
"""

from carbon_domain.seed.generator import generate
from carbon_domain.seed.manifest import MANIFEST_NAME, SeedFile, SeedManifest
from carbon_domain.seed.plan import TYPE_MIX, check_params, entry_counts

__all__ = ["MANIFEST_NAME", "TYPE_MIX", "SeedFile", "SeedManifest", "check_params",
           "entry_counts", "generate"]
