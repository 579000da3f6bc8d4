"""Process emissions (50): kg of gas released × its 100-year GWP (IPCC AR6 orders).

Strategy A on category / subcategory: plain gases have a kind-only factor; refrigerants
only have per-subcategory factors, so an unlisted refrigerant finds none (the miss row).
"""

from __future__ import annotations

import random

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.seed.kinds.base import EntryRows, TypeSpec
from carbon_domain.seed.sampling import Weighted, lognormal
from carbon_domain.seed.university import Unit, University

# (category as written, subcategory, GWP, weight, median kg, lo, hi)
GASES = (
    ("CO2", "", 1.0, 30, 50, 1, 2000),
    ("CH4", "", 27.9, 10, 5, 0.1, 200),
    ("N2O", "", 273.0, 10, 3, 0.1, 100),
    # Refrigerant leaks are small (top-ups of cooling circuits); high-GWP gases are rare.
    *(("Refrigerant", sub, gwp, w, 0.8, 0.05, 30) for sub, gwp, w in (
        ("R134a", 1530.0, 10), ("R404A", 4728.0, 6), ("R410A", 2256.0, 10), ("R32", 771.0, 6),
        ("R125", 3740.0, 3), ("R116", 12400.0, 1), ("NF3", 17400.0, 1), ("SF6", 24300.0, 2))),
)
PICK = Weighted((g, g[3]) for g in GASES)


def _factors(_uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
    return [(cat, sub, "kg", gwp) for cat, sub, gwp, *_ in GASES]


def _entries(_uni: University, rng: random.Random) -> EntryRows:
    def row(_u: Unit) -> tuple[object, ...]:
        cat, sub, _gwp, _w, median, lo, hi = PICK.pick(rng)
        return (cat, sub, "kg", f"{lognormal(rng, median, 0.9, lo, hi):.2f}")
    return EntryRows(row, lambda _u: ("Refrigerant", "R-999", "kg", "1.50"))


SPECS = (
    TypeSpec(D.process_emissions, ("category", "subcategory", "unit", "ef_kg_co2eq_per_unit"),
             _factors, ("category", "subcategory", "unit", "quantity"), _entries),
)
