"""Column tables of every factor and data entry CSV, per data entry type.

Column names are those of the system we replace and its real templates, so operators'
files load unchanged (docs/design.md §3). ``FACTOR_SCHEMAS``
splits factor columns into classification (the factor's identity) and values (coefficients
plus a few strings); ``ENTRY_SCHEMAS`` lists the data columns stored in ``entry.data``.
A number's magnitude limit is its upload kind's (``carbon_domain/numbers.py``: a data entry
quantity, a factor value) unless its column names another (``limit=``: a surface, a total use).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carbon_domain import names
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.csv_rows.fields import Col, RowError, choice, integer, num, text
from carbon_domain.numbers import FACILITY_TOTAL_USE, SURFACE

Check = Callable[[dict[str, Any]], None]
FACILITY_SOURCES = ("processemissions", "building_energycombustions", "building_rooms",
                    "purchases_common", "purchases_additional", "equipments")
HOURS_PER_WEEK = 168.0


@dataclass(frozen=True, slots=True)
class FactorSchema:
    classification: tuple[Col, ...]
    values: tuple[Col, ...]
    check: Check | None = None


@dataclass(frozen=True, slots=True)
class EntrySchema:
    cols: tuple[Col, ...]
    check: Check | None = None


# -- canonical vocabularies for choice columns --------------------------------------------------
_CLOUD_WORD = {"virtualisation": "virtualisation", "calcul": "compute", "stockage": "storage"}


def _cloud_word(v: Any) -> str | None:
    s = names.cloud_service(v)
    return _CLOUD_WORD[s] if s else None


def _iata(v: Any) -> str | None:
    s = str(v).strip().upper()
    return s if re.fullmatch(r"[A-Z0-9]{3}", s) else None


def _bucket(v: Any) -> str | None:
    s = names.slug(str(v).replace(">", "gt_").replace("+", "").replace("-", "_"))
    return s if s in names.AI_REQUEST_BUCKETS else None


def _animal_or_literal(v: Any) -> str | None:
    return names.animal(v)


CABINS_PLANE = choice("cabin_class", names.plane_cabin, ("first", "business", "economy"), True)
CABINS_TRAIN = choice("cabin_class", names.train_cabin, ("first", "second"), True)
CURRENCY = choice("currency", names.currency, names.CURRENCIES)
ROOM_TYPE = choice("room_type", names.room_type, tuple(sorted(set(names.ROOM_TYPES.values()))),
                   lenient=True)


# -- cross-field checks -------------------------------------------------------------------------
def _hours_check(d: dict[str, Any]) -> None:
    total = (d.get("active_usage_hours_per_week") or 0) + (
        d.get("standby_usage_hours_per_week") or 0)
    if total > HOURS_PER_WEEK:
        raise RowError(f"active + standby usage hours per week exceed {HOURS_PER_WEEK:g} "
                       f"(got {total:g})")


def _distance_band_check(d: dict[str, Any]) -> None:
    if d["max_distance"] <= d["min_distance"]:
        raise RowError(f"max_distance ({d['max_distance']:g}) must be greater than "
                       f"min_distance ({d['min_distance']:g})")


def _embodied_check(d: dict[str, Any]) -> None:
    if d.get("room_surface_square_meter") is None and not d.get("room_name"):
        raise RowError("room_surface_square_meter or room_name is required")


# -- factor files -------------------------------------------------------------------------------
_HEADCOUNT_F = FactorSchema(
    (text("headcount_category", True), text("headcount_class"), text("headcount_subclass"),
     text("unit")),
    (num("number_of_unit_per_fte", True), num("ef_kg_co2eq_per_unit", True)))
_EQUIPMENT_F = FactorSchema(
    (text("equipment_class", True), text("sub_class")),
    (num("active_power_w", True), num("standby_power_w"),
     num("active_usage_hours_per_week", hi=HOURS_PER_WEEK),
     num("standby_usage_hours_per_week", hi=HOURS_PER_WEEK), num("ef_kg_co2eq_per_kwh", True)),
    _hours_check)
_PURCHASE_F = FactorSchema(
    (text("purchase_institutional_code", True), text("purchase_additional_code")),
    (num("ef_kg_co2eq_per_currency", True), CURRENCY, text("translation_key")))
_FACILITY_CLASS = (text("researchfacility_id", True), text("researchfacility_name"))
_FACILITY_VALUES = (text("use_unit"), num("kg_co2eq_sum"),
                    num("total_use", limit=FACILITY_TOTAL_USE))

FACTOR_SCHEMAS: dict[int, FactorSchema] = {
    D.member: _HEADCOUNT_F,
    D.student: _HEADCOUNT_F,
    D.scientific: _EQUIPMENT_F,
    D.it: _EQUIPMENT_F,
    D.other: _EQUIPMENT_F,
    D.plane: FactorSchema(
        (text("category", True), CABINS_PLANE),
        (num("ef_kg_co2eq_per_km", True), num("rfi_adjustment"), num("min_distance", True),
         num("max_distance", True)), _distance_band_check),
    D.train: FactorSchema(
        (choice("country_code", names.country_code, ("ISO-2 code", "RoW"), True),),
        (num("ef_kg_co2eq_per_km", True),)),
    D.building: FactorSchema(
        (text("building_name", True), ROOM_TYPE),
        (num("ef_kg_co2eq_per_kwh", True), num("heating_kwh_per_square_meter"),
         num("cooling_kwh_per_square_meter"), num("ventilation_kwh_per_square_meter"),
         num("lighting_kwh_per_square_meter"),
         choice("energy_type", names.energy_type, ("electric", "thermal"), True),
         num("conversion_factor"))),
    D.energy_combustion: FactorSchema(
        (text("unit"), text("name", True)), (num("ef_kg_co2eq_per_unit", True),)),
    D.building_embodied_energy: FactorSchema(
        (text("building_name", True),
         choice("category", names.embodied_category,
                tuple(names.EMBODIED_CATEGORIES.values()), True)),
        (num("ef_kgco2eq_per_m2", True),)),
    D.external_clouds: FactorSchema(
        (choice("service_type", _cloud_word, ("virtualisation", "compute", "storage"), True),
         text("provider", True)),
        (num("ef_kg_co2eq_per_currency", True), CURRENCY)),
    D.external_ai: FactorSchema(
        (text("provider", True), text("usage_type")), (num("ef_kg_co2eq_per_request", True),)),
    D.process_emissions: FactorSchema(
        (choice("category", names.gas, ("ch4", "co2", "n2o", "refrigerants"), True),
         text("subcategory"), text("unit")),
        (num("ef_kg_co2eq_per_unit", True),)),
    **{det: _PURCHASE_F for det in (D.scientific_equipment, D.it_equipment,
                                    D.consumable_accessories,
                                    D.biological_chemical_gaseous_product, D.services,
                                    D.vehicles, D.other_purchases)},
    D.additional_purchases: FactorSchema((text("name", True),), (num("ef_kg_co2eq_per_kg", True),)),
    D.research_facilities: FactorSchema(_FACILITY_CLASS, _FACILITY_VALUES),
    D.mice_and_fish_animal_facilities: FactorSchema(
        (*_FACILITY_CLASS, choice("researchfacility_type", _animal_or_literal,
                                  ("mice", "fish"), lenient=True)),
        (*_FACILITY_VALUES, *(num(f"{s}_share") for s in FACILITY_SOURCES),
         *(num(f"kg_co2eq_sum_{s}") for s in FACILITY_SOURCES))),
}

# -- data entry files ---------------------------------------------------------------------------
_PERSON = (text("name"), text("sius_code"), text("user_institutional_id"),
           text("position_title"), text("position_category"))
_EQUIPMENT_E = EntrySchema(
    (text("equipment_id"), text("name"), text("equipment_class", True), text("sub_class"),
     num("active_usage_hours_per_week", hi=HOURS_PER_WEEK),
     num("standby_usage_hours_per_week", hi=HOURS_PER_WEEK)), _hours_check)
_TRIP = (text("user_institutional_id"), text("departure_date"),
         integer("number_of_trips", lo=1))
_PURCHASE_E = EntrySchema(
    (text("name"), text("supplier"), num("quantity"), num("total_spent_amount", True), CURRENCY,
     text("purchase_institutional_code", True), text("purchase_institutional_description"),
     text("purchase_additional_code")))
_FACILITY_E = (text("researchfacility_id", True), text("researchfacility_name"),
               num("use", True), text("use_unit"))

ENTRY_SCHEMAS: dict[int, EntrySchema] = {
    D.member: EntrySchema((*_PERSON, num("fte", True, hi=1.0))),
    D.student: EntrySchema((*_PERSON, num("fte", True))),
    D.scientific: _EQUIPMENT_E,
    D.it: _EQUIPMENT_E,
    D.other: _EQUIPMENT_E,
    D.plane: EntrySchema(
        (choice("origin_iata", _iata, ("3-letter IATA code",), True),
         choice("destination_iata", _iata, ("3-letter IATA code",), True), *_TRIP,
         CABINS_PLANE)),
    D.train: EntrySchema(
        (text("origin_name", True),
         choice("origin_country_code", names.country_code, ("ISO-2 code",), True),
         text("destination_name", True),
         choice("destination_country_code", names.country_code, ("ISO-2 code",), True),
         *_TRIP, CABINS_TRAIN)),
    D.building: EntrySchema(
        (text("building_location"), text("building_name", True), text("room_name", True),
         ROOM_TYPE, num("room_allocation_ratio", hi=1.0),
         num("room_surface_square_meter", limit=SURFACE))),
    D.energy_combustion: EntrySchema((text("name", True), text("unit"), num("quantity", True))),
    D.building_embodied_energy: EntrySchema(
        (text("building_name", True), text("room_name"),
         num("room_surface_square_meter", limit=SURFACE), text("data_entry_id")),
        _embodied_check),
    D.external_clouds: EntrySchema(
        (choice("service_type", _cloud_word, ("virtualisation", "compute", "storage"), True),
         text("provider", True), num("spent_amount", True), CURRENCY)),
    D.external_ai: EntrySchema(
        (text("provider", True), text("usage_type"),
         choice("requests_per_user_per_day", _bucket, tuple(names.AI_REQUEST_BUCKETS), True),
         num("fte_count", True, lo=0.1))),
    D.process_emissions: EntrySchema(
        (choice("category", names.gas, ("ch4", "co2", "n2o", "refrigerants"), True),
         text("subcategory"), text("unit"), num("quantity", True))),
    **{det: _PURCHASE_E for det in (D.scientific_equipment, D.it_equipment,
                                    D.consumable_accessories,
                                    D.biological_chemical_gaseous_product, D.services,
                                    D.vehicles, D.other_purchases)},
    D.additional_purchases: EntrySchema(
        (text("name", True), text("unit"), num("annual_consumption", True), num("coef_to_kg"))),
    D.research_facilities: EntrySchema(_FACILITY_E),
    D.mice_and_fish_animal_facilities: EntrySchema(
        (*_FACILITY_E, choice("researchfacility_type", _animal_or_literal, ("mice", "fish"),
                              lenient=True))),
}

#: Columns every data entry file may carry besides its type's own.
COMMON_ENTRY_COLS = (text("note"), num("kg_co2eq"))
