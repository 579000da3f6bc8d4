"""How many entries of each type: a realistic mix of a university's yearly data.

Purchases and equipment are the bulk, travel is frequent, headcount is a few rows per lab
(but ~24 emission rows each), facilities and process gases are rare.
"""

from __future__ import annotations

import math

from carbon_domain.catalog import YEAR_MAX, YEAR_MIN
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.errors import InvalidInput

TYPE_MIX: dict[D, float] = {
    D.member: 5, D.student: 1.5,
    D.scientific: 6, D.it: 10, D.other: 4,
    D.plane: 12, D.train: 8,
    D.building: 3, D.energy_combustion: 0.6, D.building_embodied_energy: 1.5,
    D.external_clouds: 1, D.external_ai: 1,
    D.process_emissions: 0.5,
    D.scientific_equipment: 5, D.it_equipment: 6, D.consumable_accessories: 12,
    D.biological_chemical_gaseous_product: 8, D.services: 6, D.vehicles: 0.5,
    D.other_purchases: 3, D.additional_purchases: 1,
    D.research_facilities: 1.5, D.mice_and_fish_animal_facilities: 0.5,
}
MAX_UNITS = 100_000
MAX_ENTRIES = 100_000_000
MAX_ROOMS = 3000


def check_params(*, units: int, entries: int, year: int, missing_rate: float) -> None:
    """InvalidInput with one clear sentence for any unusable size."""
    if not 1 <= units <= MAX_UNITS:
        raise InvalidInput(f"--units must be between 1 and {MAX_UNITS:,} (got {units})",
                           field="units", value=units)
    if not 0 <= entries <= MAX_ENTRIES:
        raise InvalidInput(f"--entries must be between 0 and {MAX_ENTRIES:,} (got {entries})",
                           field="entries", value=entries)
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise InvalidInput(f"--year must be between {YEAR_MIN} and {YEAR_MAX} (got {year})",
                           field="year", value=year)
    if not (0.0 <= missing_rate <= 1.0) or math.isnan(missing_rate):
        raise InvalidInput(f"--missing-rate must be between 0 and 1 (got {missing_rate})",
                           field="missing_rate", value=missing_rate)


def entry_counts(entries: int) -> dict[D, int]:
    """Split ``entries`` over the types by TYPE_MIX (largest remainder, deterministic).

    With at least one entry per type available, every type gets one, so every data entry
    file exists and every pipeline path is exercised.
    """
    total_w = sum(TYPE_MIX.values())
    exact = {d: entries * w / total_w for d, w in TYPE_MIX.items()}
    counts = {d: int(x) for d, x in exact.items()}
    left = entries - sum(counts.values())
    for d in sorted(exact, key=lambda d: (counts[d] - exact[d], int(d)))[:left]:
        counts[d] += 1
    if entries >= len(TYPE_MIX):
        for d in sorted(counts, key=int):
            if counts[d] == 0:
                donor = max(counts, key=lambda k: (counts[k], -int(k)))
                counts[donor] -= 1
                counts[d] = 1
    return counts


def room_count(counts: dict[D, int]) -> int:
    """Rooms in the reference file: about one per two room-based entries (rooms are shared
    through allocation ratios), capped so the reference upload stays quick."""
    return max(1, min(MAX_ROOMS, (counts[D.building] + counts[D.building_embodied_energy]) // 2))
