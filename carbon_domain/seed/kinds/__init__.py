"""Every data entry type's seed recipe, keyed by data entry type id."""

from __future__ import annotations

from carbon_domain.catalog import DataEntryType
from carbon_domain.seed.kinds import (
    buildings,
    equipment,
    external,
    facilities,
    people,
    process,
    purchases,
    travel,
)
from carbon_domain.seed.kinds.base import EntryRows, TypeSpec

SPECS: dict[DataEntryType, TypeSpec] = {
    spec.det: spec for mod in (people, equipment, travel, buildings, external, process,
                               purchases, facilities) for spec in mod.SPECS
}
assert set(SPECS) == set(DataEntryType), "every data entry type needs a seed recipe"

__all__ = ["SPECS", "EntryRows", "TypeSpec"]
