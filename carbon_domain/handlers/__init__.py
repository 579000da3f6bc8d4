"""One handler per data entry type, in a registry (docs/design.md §2: no if/elif on the type)."""

from __future__ import annotations

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.formula_versions import formula_version, formula_versions
from carbon_domain.handlers import activity, buildings, facilities, people, spend, travel
from carbon_domain.handlers.base import Compute, Context, EntryError, Handler, Part
from carbon_domain.handlers.facilities import (
    facility_factor_values,
    facility_total_use,
    facility_total_uses,
)


def _h(det: D, strategy: str, compute: Compute) -> tuple[int, Handler]:
    return int(det), Handler(int(det), strategy, compute)


HANDLERS: dict[int, Handler] = dict([
    _h(D.member, "B", people.headcount),
    _h(D.student, "B", people.headcount),
    _h(D.scientific, "A", activity.equipment),
    _h(D.it, "A", activity.equipment),
    _h(D.other, "A", activity.equipment),
    _h(D.plane, "B", travel.plane),
    _h(D.train, "B", travel.train),
    _h(D.building, "A", buildings.room),
    _h(D.energy_combustion, "A", activity.quantity_per_unit),
    _h(D.building_embodied_energy, "B", buildings.embodied),
    _h(D.external_clouds, "A", spend.cloud),
    _h(D.external_ai, "A", spend.ai),
    _h(D.process_emissions, "A", activity.quantity_per_unit),
    *(_h(det, "A", spend.purchase) for det in (
        D.scientific_equipment, D.it_equipment, D.consumable_accessories,
        D.biological_chemical_gaseous_product, D.services, D.vehicles, D.other_purchases)),
    _h(D.additional_purchases, "A", activity.additional_purchase),
    _h(D.research_facilities, "A", facilities.facility),
    _h(D.mice_and_fish_animal_facilities, "A", facilities.animal_facility),
])

__all__ = ["HANDLERS", "Context", "EntryError", "Handler", "Part", "facility_factor_values",
           "facility_total_use", "facility_total_uses", "formula_version", "formula_versions"]
