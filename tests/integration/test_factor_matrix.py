"""Seed 001's 15-row matrix on real PostgreSQL + Redis + a real worker (issue 4, "Done when").

For every (module, data entry type) of the matrix:

1. seed units (and the building rooms / exchange rates the type needs),
2. upload factors with ``recalculate=False``,
3. upload data entries: the pipeline runs ingest → recalculation → aggregation,
4. assert every emission row (type, scope, kg, additional_value, factor) and the module stats
   of both labs against numbers computed by hand below (the arithmetic is written out; nothing
   is read back from the engine),
5. upload a REVISED factor CSV for the same classifications with ``recalculate=True``: the
   pipeline runs ingest → recalculation → aggregation,
6. assert every row now reflects the revised factor, the factor ids are unchanged (upsert in
   place), and the module stats follow.

Strict-drop variants (an entry whose factor no longer matches loses its rows, the entry stays
and ``missing_factors`` counts it). Factor uploads upsert and never delete, so:

- Strategy A (IT equipment) and Strategy B (train): the obsolete factor row is deleted with SQL
  (what an operator's cleanup of a stale factor does; the FK cascade drops its rows at once),
  then the revised CSV is uploaded with ``recalculate=True`` and the recalculation must keep
  the entry without rows (and, for Strategy A, clear its ``primary_factor_id`` link).
- Strategy B (plane), by upload alone: the revised CSV narrows the economy band's
  ``max_distance`` below the trip's per-trip distance, so no band matches any more.

Hand-computation conventions (docs/design.md §1–2):
equipment kWh = (active h × active W + standby h × standby W) × 52 / 1000; spend kg = amount ×
rate(amount currency → EUR) × EF / rate(EF currency → EUR); AI kg = requests/day × 5 × 46 × FTE
× EF(g) / 1000; plane km = (round(haversine) + 95) × trips, kg = km × EF × RFI,
additional_value = km (no RFI); train km = round(haversine × 1.2) × trips; rooms kg = surface ×
ratio × EF × kWh/m² (× conversion factor on the one applicable heating row); headcount kg =
fte × units per FTE × EF, additional_value = fte × units per FTE.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops

from .helpers import UNITS_CSV, jobs_of, module_stats, wait_pipeline

pytestmark = pytest.mark.integration

YEAR = 2025
UNIT_OF = {"UA": "LAB-A", "UB": "LAB-B"}
KG = {"rel": 1e-12, "abs": 1e-9}     # kg and additional_value: float-exact up to op order
STATS = {"rel": 0, "abs": 2e-6}       # stats are rounded to 6 decimals (stats.KG_DECIMALS)

# Reference data (uploaded, not defaults). Rates are EUR per unit of the currency.
RATES_CSV = "year,currency,rate_to_eur\n2025,chf,1.05\n2025,usd,0.9\n"
ROOMS_CSV = ("building_name,room_name,room_type,room_surface_square_meter\n"
             "BC,BC 125,office,20\n"
             "AAB,AAB 010,laboratories,40\n")


class R(NamedTuple):
    """An expected emission row: entry number (1-based row of the entries CSV), emission type,
    scope, kg, additional_value, and the classification (subset) of the factor it links to."""

    entry: int
    et: int
    scope: int
    kg: float
    av: float | None
    factor: dict[str, Any]


@dataclass(frozen=True)
class Case:
    id: str
    module: int
    det: int
    factors_v1: str
    entries: str
    rows_v1: list[R]
    factors_v2: str
    rows_v2: list[R]
    refs: tuple[tuple[str, str], ...] = ()
    strategy_a: bool = True


# -- plane and train distances, by hand ------------------------------------------------------
def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(a))


# airportsdata (IATA): GVA 46.2381, 6.10895; CDG 49.0128, 2.55; JFK 40.639928, -73.778692.
# GVA→CDG great circle 407.74 km → round 408 + 95 = 503 km per trip.
GVA_CDG = 408 + 95
# CDG→JFK great circle 5833.63 km → round 5834 + 95 = 5929 km per trip.
CDG_JFK = 5834 + 95
# Shipped stations: Geneva 46.2102, 6.1424; Lausanne 46.5167, 6.6291; Paris 48.8443, 2.3744.
# Geneva→Lausanne 50.56 km × 1.2 = 60.67 → 61 km per trip; Geneva→Paris 407.12 × 1.2 → 489 km.
GVA_LSN = 61
GVA_PAR = 489


def test_hand_distances_match_the_reference_coordinates() -> None:
    assert round(_haversine(46.2381, 6.10895, 49.0128, 2.55)) + 95 == GVA_CDG
    assert round(_haversine(49.0128, 2.55, 40.639928, -73.778692)) + 95 == CDG_JFK
    assert round(_haversine(46.2102, 6.1424, 46.5167, 6.6291) * 1.2) == GVA_LSN
    assert round(_haversine(46.2102, 6.1424, 48.8443, 2.3744) * 1.2) == GVA_PAR


# -- the 15 rows of seed 001 -----------------------------------------------------------------
EQ_F = ("equipment_class,sub_class,active_power_w,standby_power_w,active_usage_hours_per_week,"
        "standby_usage_hours_per_week,ef_kg_co2eq_per_kwh\n")
EQ_E = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
        "active_usage_hours_per_week,standby_usage_hours_per_week\n")
SPECTRO = {"equipment_class": "Spectrometer", "sub_class": None}
FREEZER = {"equipment_class": "Lab Freezer", "sub_class": "-80C"}
LAPTOP = {"equipment_class": "Laptop", "sub_class": "Standard"}
MONITOR = {"equipment_class": "Monitor", "sub_class": None}
COFFEE = {"equipment_class": "Coffee machine", "sub_class": None}

SCIENTIFIC = Case(
    "equipment-scientific", 4, 10,
    EQ_F + "Spectrometer,,500,20,,,0.12\nLab Freezer,-80C,300,300,,,0.12\n",
    EQ_E + "UA,SCI-1,NMR spectro,Spectrometer,NMR,40,128\n"   # kind-only fallback (sub NMR)
           "UB,SCI-2,Freezer,Lab Freezer,-80C,168,0\n",
    [
        # (40×500 + 128×20) × 52 / 1000 = 1173.12 kWh × 0.12 = 140.7744
        R(1, 80100, 2, (40 * 500 + 128 * 20) * 52 / 1000 * 0.12, None, SPECTRO),
        # 168 × 300 × 52 / 1000 = 2620.8 kWh × 0.12 = 314.496
        R(2, 80100, 2, (168 * 300 + 0 * 300) * 52 / 1000 * 0.12, None, FREEZER),
    ],
    EQ_F + "Spectrometer,,500,20,,,0.15\nLab Freezer,-80C,250,300,,,0.1\n",
    [
        # 1173.12 kWh × 0.15 = 175.968
        R(1, 80100, 2, (40 * 500 + 128 * 20) * 52 / 1000 * 0.15, None, SPECTRO),
        # 168 × 250 × 52 / 1000 = 2184 kWh × 0.1 = 218.4
        R(2, 80100, 2, (168 * 250 + 0 * 300) * 52 / 1000 * 0.1, None, FREEZER),
    ],
)

IT = Case(
    "equipment-it", 4, 11,
    EQ_F + "Laptop,Standard,100,10,,,0.1\nMonitor,,30,1,45,123,0.1\n",
    EQ_E + "UA,IT-1,Laptop 1,Laptop,Standard,40,128\n"
           "UA,IT-2,Screen,Monitor,,,\n",          # blank hours: the factor's defaults
    [
        # (40×100 + 128×10) × 52 / 1000 = 274.56 kWh × 0.1 = 27.456
        R(1, 80200, 2, (40 * 100 + 128 * 10) * 52 / 1000 * 0.1, None, LAPTOP),
        # factor default hours 45 / 123: (45×30 + 123×1) × 52 / 1000 = 76.596 kWh × 0.1 = 7.6596
        R(2, 80200, 2, (45 * 30 + 123 * 1) * 52 / 1000 * 0.1, None, MONITOR),
    ],
    EQ_F + "Laptop,Standard,100,10,,,0.2\nMonitor,,30,1,50,118,0.12\n",
    [
        # 274.56 kWh × 0.2 = 54.912
        R(1, 80200, 2, (40 * 100 + 128 * 10) * 52 / 1000 * 0.2, None, LAPTOP),
        # revised defaults 50 / 118: (50×30 + 118×1) × 52 / 1000 = 84.136 kWh × 0.12 = 10.09632
        R(2, 80200, 2, (50 * 30 + 118 * 1) * 52 / 1000 * 0.12, None, MONITOR),
    ],
)

OTHER = Case(
    "equipment-other", 4, 12,
    EQ_F + "Coffee machine,,1200,2,,,0.1\n",
    EQ_E + "UB,OT-1,Espresso,Coffee machine,Espresso,5,163\n",
    # (5×1200 + 163×2) × 52 / 1000 = 328.952 kWh × 0.1 = 32.8952
    [R(1, 80300, 2, (5 * 1200 + 163 * 2) * 52 / 1000 * 0.1, None, COFFEE)],
    EQ_F + "Coffee machine,,1200,2,,,0.09\n",
    # 328.952 kWh × 0.09 = 29.60568
    [R(1, 80300, 2, (5 * 1200 + 163 * 2) * 52 / 1000 * 0.09, None, COFFEE)],
)

PU_F = "purchase_institutional_code,purchase_additional_code,ef_kg_co2eq_per_currency,currency\n"
PU_E = ("unit_institutional_id,name,supplier,total_spent_amount,currency,"
        "purchase_institutional_code\n")
P12 = {"purchase_institutional_code": "12000000"}
P43 = {"purchase_institutional_code": "43000000"}

PURCHASE_COMMON = Case(
    "purchase-common", 5, 60,
    PU_F + "12000000,,0.4,eur\n43000000,,0.42,chf\n",
    PU_E + "UA,Microscope,Zeiss,1000,chf,12000000\n"
           "UB,Pipettes,Gilson,200,eur,43000000\n"
           "UA,Tips,Gilson,300,,43000000\n",       # blank currency: CHF (the default)
    [
        # 1000 CHF × 1.05 = 1050 EUR × 0.4 kg/EUR = 420
        R(1, 90200, 3, 1000 * 1.05 * 0.4 / 1.0, None, P12),
        # 200 EUR × (0.42 kg/CHF ÷ 1.05 EUR/CHF = 0.4 kg/EUR) = 80
        R(2, 90200, 3, 200 * 1.0 * 0.42 / 1.05, None, P43),
        # 300 CHF × 1.05 = 315 EUR × 0.4 kg/EUR = 126
        R(3, 90200, 3, 300 * 1.05 * 0.42 / 1.05, None, P43),
    ],
    PU_F + "12000000,,0.5,eur\n43000000,,0.63,chf\n",
    [
        R(1, 90200, 3, 1000 * 1.05 * 0.5 / 1.0, None, P12),    # 1050 EUR × 0.5 = 525
        R(2, 90200, 3, 200 * 1.0 * 0.63 / 1.05, None, P43),    # 200 EUR × 0.6 = 120
        R(3, 90200, 3, 300 * 1.05 * 0.63 / 1.05, None, P43),   # 315 EUR × 0.6 = 189
    ],
    refs=(("exchange-rates", RATES_CSV),),
)

PA_F = "name,ef_kg_co2eq_per_kg\n"
PA_E = "unit_institutional_id,name,unit,annual_consumption,coef_to_kg\n"
LN2 = {"name": "LN2"}
DRY_ICE = {"name": "Dry ice"}

PURCHASE_ADDITIONAL = Case(
    "purchase-additional", 5, 67,
    PA_F + "LN2,0.05\nDry ice,0.2\n",
    PA_E + "UA,Liquid Nitrogen,L,1000,0.8\nUA,Dry ice,kg,50,\n",
    [
        R(1, 90901, 1, 1000 * 0.8 * 0.05, None, LN2),      # 800 kg × 0.05 = 40 (ln2 leaf)
        R(2, 90900, 1, 50 * 1.0 * 0.2, None, DRY_ICE),     # 50 kg × 0.2 = 10 (additional node)
    ],
    PA_F + "LN2,0.06\nDry ice,0.25\n",
    [
        R(1, 90901, 1, 1000 * 0.8 * 0.06, None, LN2),      # 800 × 0.06 = 48
        R(2, 90900, 1, 50 * 1.0 * 0.25, None, DRY_ICE),    # 50 × 0.25 = 12.5
    ],
)

CL_F = "service_type,provider,ef_kg_co2eq_per_currency,currency\n"
CL_E = "unit_institutional_id,service_type,provider,spent_amount,currency\n"
AWS_COMPUTE = {"provider": "AWS", "service_type": "compute"}
AWS_STORAGE = {"provider": "AWS", "service_type": "storage"}

EXTERNAL_CLOUD = Case(
    "external-cloud", 7, 40,
    CL_F + "compute,AWS,0.2,eur\nstorage,AWS,0.045,usd\n",
    CL_E + "UA,compute,AWS,1000,usd\nUB,Stockage,aws,400,\n",   # blank currency: EUR
    [
        R(1, 110102, 3, 1000 * 0.9 * 0.2 / 1.0, None, AWS_COMPUTE),   # 900 EUR × 0.2 = 180
        # 400 EUR × (0.045 kg/USD ÷ 0.9 EUR/USD = 0.05 kg/EUR) = 20
        R(2, 110103, 3, 400 * 1.0 * 0.045 / 0.9, None, AWS_STORAGE),
    ],
    CL_F + "compute,AWS,0.3,eur\nstorage,AWS,0.054,usd\n",
    [
        R(1, 110102, 3, 1000 * 0.9 * 0.3 / 1.0, None, AWS_COMPUTE),   # 900 × 0.3 = 270
        R(2, 110103, 3, 400 * 1.0 * 0.054 / 0.9, None, AWS_STORAGE),  # 400 × 0.06 = 24
    ],
    refs=(("exchange-rates", RATES_CSV),),
)

AI_F = "provider,usage_type,ef_kg_co2eq_per_request\n"
AI_E = "unit_institutional_id,provider,usage_type,requests_per_user_per_day,fte_count\n"
OPENAI = {"provider": "ChatGPT (OpenAI)", "usage_type": "text"}
COPILOT = {"provider": "Copilot (Microsoft)", "usage_type": None}

EXTERNAL_AI = Case(
    "external-ai", 7, 41,
    AI_F + "ChatGPT (OpenAI),text,4\nCopilot (Microsoft),,2\n",
    AI_E + "UA,ChatGPT (OpenAI),text,5-20,2\n"
           "UB,Copilot (Microsoft),image,>100,1.5\n",   # kind-only fallback (usage image)
    [
        # ONE row on the provider's leaf: 12.5 req/day × 5 × 46 × 2 FTE × 4 g / 1000 = 23
        R(1, 110204, 3, 12.5 * 5 * 46 * 2 * 4 / 1000, None, OPENAI),
        # unknown provider → others leaf: 100 × 5 × 46 × 1.5 × 2 g / 1000 = 69
        R(2, 110206, 3, 100 * 5 * 46 * 1.5 * 2 / 1000, None, COPILOT),
    ],
    AI_F + "ChatGPT (OpenAI),text,6\nCopilot (Microsoft),,3\n",
    [
        R(1, 110204, 3, 12.5 * 5 * 46 * 2 * 6 / 1000, None, OPENAI),     # 34.5
        R(2, 110206, 3, 100 * 5 * 46 * 1.5 * 3 / 1000, None, COPILOT),   # 103.5
    ],
)

PE_F = "category,subcategory,unit,ef_kg_co2eq_per_unit\n"
PE_E = "unit_institutional_id,category,subcategory,unit,quantity\n"
R134A = {"category": "refrigerants", "subcategory": "R134a"}
CO2 = {"category": "co2", "subcategory": None}

PROCESS = Case(
    "process-emissions", 8, 50,
    PE_F + "refrigerants,R134a,kg,1430\nco2,,kg,1\n",
    PE_E + "UA,Refrigerant,R134a,kg,2\nUB,CO2,,kg,100\n",
    [
        R(1, 70400, 1, 2 * 1430, None, R134A),     # 2 kg × GWP 1430 = 2860
        R(2, 70200, 1, 100 * 1, None, CO2),        # 100 kg × 1 = 100
    ],
    PE_F + "refrigerants,R134a,kg,1530\nco2,,kg,1.1\n",
    [
        R(1, 70400, 1, 2 * 1530, None, R134A),     # 3060
        R(2, 70200, 1, 100 * 1.1, None, CO2),      # 110
    ],
)

EC_F = "unit,name,ef_kg_co2eq_per_unit\n"
EC_E = "unit_institutional_id,name,unit,quantity\n"
GAS = {"name": "Natural gas", "unit": "kWh"}
PROPANE = {"name": "Propane", "unit": "kg"}

ENERGY_COMBUSTION = Case(
    "energy-combustion", 3, 31,
    EC_F + "kWh,Natural gas,0.2\nkg,Propane,1.5\n",
    EC_E + "UA,Natural gas,kWh,1200\nUA,Propane,kg,100\n",
    [
        R(1, 60201, 1, 1200 * 0.2, None, GAS),       # 1200 kWh × 0.2 = 240 (natural_gas leaf)
        R(2, 60200, 1, 100 * 1.5, None, PROPANE),    # 100 kg × 1.5 = 150 (no leaf → 60200)
    ],
    EC_F + "kWh,Natural gas,0.25\nkg,Propane,1.6\n",
    [
        R(1, 60201, 1, 1200 * 0.25, None, GAS),      # 300
        R(2, 60200, 1, 100 * 1.6, None, PROPANE),    # 160
    ],
)

RM_F = ("building_name,room_type,ef_kg_co2eq_per_kwh,heating_kwh_per_square_meter,"
        "cooling_kwh_per_square_meter,ventilation_kwh_per_square_meter,"
        "lighting_kwh_per_square_meter,energy_type,conversion_factor\n")
RM_E = ("unit_institutional_id,building_location,building_name,room_name,room_type,"
        "room_allocation_ratio\n")
BC_OFFICE = {"building_name": "BC", "room_type": "office"}
AAB_LABS = {"building_name": "AAB", "room_type": "laboratories"}


def _room_rows(entry: int, rt: int, base: float, heat_row: int, heat_scope: int, conv: float,
               factor: dict[str, Any]) -> list[R]:
    """lighting 5, cooling 20, ventilation 10 kWh/m² (conv 1), then the ONE applicable
    heating row (30 kWh/m² × conversion factor); leaves 601EE{rt}."""
    return [R(entry, 6010100 + rt, 2, base * 5, None, factor),
            R(entry, 6010200 + rt, 2, base * 20, None, factor),
            R(entry, 6010300 + rt, 2, base * 10, None, factor),
            R(entry, heat_row + rt, heat_scope, base * 30 * conv, None, factor)]


BUILDING_ROOMS = Case(
    "building-rooms", 3, 30,
    RM_F + "BC,office,0.1,30,20,10,5,electric,\nAAB,laboratories,0.2,30,20,10,5,thermal,0.9\n",
    RM_E + "UA,ECUBLENS,BC,BC 125,office,\nUB,ECUBLENS,AAB,AAB 010,laboratories,0.5\n",
    [
        # BC 125: 20 m² (reference) × ratio 1 × EF 0.1 = 2 kg per kWh/m²:
        # lighting 10, cooling 40, ventilation 20, heating_elec 60 (no heating_thermal row)
        *_room_rows(1, 1, 20 * 1.0 * 0.1, 6010400, 2, 1.0, BC_OFFICE),
        # AAB 010: 40 m² × ratio 0.5 × EF 0.2 = 4: lighting 20, cooling 80, ventilation 40,
        # heating_thermal 30 × 4 × 0.9 = 108 on scope 1 (no heating_elec row)
        *_room_rows(2, 2, 40 * 0.5 * 0.2, 6010500, 1, 0.9, AAB_LABS),
    ],
    RM_F + "BC,office,0.2,30,20,10,5,electric,\nAAB,laboratories,0.25,30,20,10,5,thermal,0.9\n",
    [
        *_room_rows(1, 1, 20 * 1.0 * 0.2, 6010400, 2, 1.0, BC_OFFICE),   # 20, 80, 40, 120
        *_room_rows(2, 2, 40 * 0.5 * 0.25, 6010500, 1, 0.9, AAB_LABS),   # 25, 100, 50, 135
    ],
    refs=(("building-rooms", ROOMS_CSV),),
)

EM_F = "building_name,category,ef_kgco2eq_per_m2\n"
EM_E = "unit_institutional_id,building_name,room_name,room_surface_square_meter\n"
BC_NEW_TECH = {"building_name": "BC", "category": "new-tech"}
BC_REN_ENV = {"building_name": "BC", "category": "ren-env"}
DEFAULT_NEW_TECH = {"building_name": "default", "category": "new-tech"}

EMBODIED = Case(
    "embodied-energy", 3, 32,
    EM_F + "BC,new-tech,5\nBC,ren-env,2\ndefault,new-tech,3\n",
    EM_E + "UA,BC,BC 125,100\nUA,AAB,AAB 010,\n",
    [
        R(1, 60300, 3, 100 * 5, None, BC_NEW_TECH),       # 100 m² × 5 = 500
        R(1, 60300, 3, 100 * 2, None, BC_REN_ENV),        # 100 m² × 2 = 200
        # AAB has no factor → building "default"; surface 40 m² from the rooms reference
        R(2, 60300, 3, 40 * 3, None, DEFAULT_NEW_TECH),   # 120
    ],
    EM_F + "BC,new-tech,6\nBC,ren-env,2.5\ndefault,new-tech,3.5\n",
    [
        R(1, 60300, 3, 100 * 6, None, BC_NEW_TECH),       # 600
        R(1, 60300, 3, 100 * 2.5, None, BC_REN_ENV),      # 250
        R(2, 60300, 3, 40 * 3.5, None, DEFAULT_NEW_TECH),  # 140
    ],
    refs=(("building-rooms", ROOMS_CSV),),
    strategy_a=False,
)

PL_F = "category,cabin_class,ef_kg_co2eq_per_km,rfi_adjustment,min_distance,max_distance\n"
PL_E = ("unit_institutional_id,user_institutional_id,departure_date,origin_iata,"
        "destination_iata,number_of_trips,cabin_class\n")
SHORT_ECO = {"category": "short_to_medium_haul", "cabin_class": "economy"}
LONG_BUS = {"category": "medium_to_long_haul", "cabin_class": "business"}
PLANE_F_V1 = PL_F + ("short_to_medium_haul,economy,0.2906,1.35,0,2500\n"
                     "medium_to_long_haul,economy,0.1902,1.35,2500,999999\n"
                     "medium_to_long_haul,business,0.393,1.35,2500,999999\n")
PLANE_E = PL_E + "UA,100001,2025-03-01,GVA,CDG,2,economy\nUB,100002,2025-04-01,CDG,JFK,1,business\n"

PLANE = Case(
    "plane", 2, 20, PLANE_F_V1, PLANE_E,
    [
        # 503 km per trip → short band; 2 trips = 1006 km × 0.2906 × RFI 1.35 = 394.66386;
        # additional_value = 1006 km (RFI never inflates the distance)
        R(1, 50203, 3, GVA_CDG * 2 * 0.2906 * 1.35, GVA_CDG * 2, SHORT_ECO),
        # 5929 km → long band, business: 5929 × 0.393 × 1.35 = 3145.63095
        R(2, 50202, 3, CDG_JFK * 1 * 0.393 * 1.35, CDG_JFK * 1, LONG_BUS),
    ],
    PL_F + ("short_to_medium_haul,economy,0.25,1.7,0,2500\n"
            "medium_to_long_haul,economy,0.1902,1.35,2500,999999\n"
            "medium_to_long_haul,business,0.4,1.35,2500,999999\n"),
    [
        R(1, 50203, 3, GVA_CDG * 2 * 0.25 * 1.7, GVA_CDG * 2, SHORT_ECO),   # 427.55
        R(2, 50202, 3, CDG_JFK * 1 * 0.4 * 1.35, CDG_JFK * 1, LONG_BUS),    # 3201.66
    ],
    strategy_a=False,
)

TR_F = "country_code,ef_kg_co2eq_per_km\n"
TR_E = ("unit_institutional_id,origin_name,origin_country_code,destination_name,"
        "destination_country_code,number_of_trips,cabin_class\n")
CH = {"country_code": "CH"}
ROW = {"country_code": "RoW"}
FR = {"country_code": "FR"}
TRAIN_E = TR_E + "UA,Geneva,CH,Lausanne,CH,2,second\nUA,Geneva,CH,Paris,FR,1,first\n"

TRAIN = Case(
    "train", 2, 21,
    TR_F + "CH,0.01\nRoW,0.05\n", TRAIN_E,
    [
        R(1, 50102, 3, GVA_LSN * 2 * 0.01, GVA_LSN * 2, CH),   # 122 km × 0.01 = 1.22
        # foreign destination FR, no FR factor → RoW: 489 km × 0.05 = 24.45
        R(2, 50101, 3, GVA_PAR * 1 * 0.05, GVA_PAR * 1, ROW),
    ],
    TR_F + "CH,0.012\nRoW,0.06\n",
    [
        R(1, 50102, 3, GVA_LSN * 2 * 0.012, GVA_LSN * 2, CH),  # 1.464
        R(2, 50101, 3, GVA_PAR * 1 * 0.06, GVA_PAR * 1, ROW),  # 29.34
    ],
    strategy_a=False,
)

HC_F = ("headcount_category,headcount_class,headcount_subclass,unit,number_of_unit_per_fte,"
        "ef_kg_co2eq_per_unit\n")
HC_E = "unit_institutional_id,name,user_institutional_id,fte\n"
VEG = {"headcount_category": "food", "headcount_class": "vegetarian"}
INCIN = {"headcount_category": "waste", "headcount_class": "incineration"}
PUBLIC = {"headcount_category": "commuting", "headcount_class": "public_transport"}
NON_VEG = {"headcount_category": "food", "headcount_class": "non_vegetarian"}
PAPER = {"headcount_category": "waste", "headcount_class": "recycling",
         "headcount_subclass": "paper"}


def _member_rows(entry: int, fte: float, veg_ef: float, waste_per_fte: float,
                 commute_ef: float) -> list[R]:
    """One row per headcount factor on its own leaf; additional_value = fte × units/FTE."""
    return [R(entry, 10001, 3, fte * 100 * veg_ef, fte * 100, VEG),
            R(entry, 20001, 3, fte * waste_per_fte * 0.5, fte * waste_per_fte, INCIN),
            R(entry, 30004, 3, fte * 200 * commute_ef, fte * 200, PUBLIC)]


MEMBER = Case(
    "member", 1, 1,
    HC_F + "food,vegetarian,,kg,100,1.0\nwaste,incineration,,kg,50,0.5\n"
           "commuting,public_transport,,km,200,0.2\n",
    HC_E + "UA,Alice,100001,0.8\nUB,Bob,100002,0.5\n",
    [
        # fte 0.8: food 80 units × 1.0 = 80; waste 40 × 0.5 = 20; commuting 160 km × 0.2 = 32
        *_member_rows(1, 0.8, 1.0, 50, 0.2),
        # fte 0.5: food 50; waste 25 × 0.5 = 12.5; commuting 100 km × 0.2 = 20
        *_member_rows(2, 0.5, 1.0, 50, 0.2),
    ],
    HC_F + "food,vegetarian,,kg,100,1.2\nwaste,incineration,,kg,60,0.5\n"
           "commuting,public_transport,,km,200,0.25\n",
    [
        *_member_rows(1, 0.8, 1.2, 60, 0.25),   # 96 (80 kg), 24 (48 kg), 40 (160 km)
        *_member_rows(2, 0.5, 1.2, 60, 0.25),   # 60 (50 kg), 15 (30 kg), 25 (100 km)
    ],
    strategy_a=False,
)

STUDENT = Case(
    "student", 1, 2,
    HC_F + "food,non_vegetarian,,kg,120,2.5\nwaste,recycling,paper,kg,10,0.3\n",
    HC_E + "UA,BSc students,,12\n",   # a student fte is the group's total
    [
        R(1, 10002, 3, 12 * 120 * 2.5, 12 * 120, NON_VEG),   # 1440 kg × 2.5 = 3600
        R(1, 2000401, 3, 12 * 10 * 0.3, 12 * 10, PAPER),     # 120 kg × 0.3 = 36 (paper leaf)
    ],
    HC_F + "food,non_vegetarian,,kg,120,2.0\nwaste,recycling,paper,kg,10,0.35\n",
    [
        R(1, 10002, 3, 12 * 120 * 2.0, 12 * 120, NON_VEG),   # 2880
        R(1, 2000401, 3, 12 * 10 * 0.35, 12 * 10, PAPER),    # 42
    ],
    strategy_a=False,
)

MATRIX = [SCIENTIFIC, IT, OTHER, PURCHASE_COMMON, PURCHASE_ADDITIONAL, EXTERNAL_CLOUD,
          EXTERNAL_AI, PROCESS, ENERGY_COMBUSTION, BUILDING_ROOMS, EMBODIED, PLANE, TRAIN,
          MEMBER, STUDENT]


# -- helpers ---------------------------------------------------------------------------------
def _upload(kind: str, body: str, expect_jobs: list[str] | None = None, **kw: Any) -> str:
    acc = ops.start_upload(kind, body.encode(), created_by="matrix", **kw)
    p = wait_pipeline(acc.pipeline_id)
    jobs = [(j.job_type, j.state, j.result, j.status_message) for j in jobs_of(acc.pipeline_id)]
    assert p.status == "SUCCESS", jobs
    if expect_jobs is not None:
        assert [(t, s, r) for t, s, r, _ in jobs] == [
            (t, "FINISHED", "SUCCESS") for t in expect_jobs], jobs
    return acc.pipeline_id


def _seed(case: Case) -> None:
    _upload("units", UNITS_CSV, year=YEAR)
    for kind, body in case.refs:
        _upload(kind, body)
    _upload("factors", case.factors_v1, ["factor_ingest"], module=case.module, det=case.det,
            year=YEAR, recalculate=False)
    _upload("data-entries", case.entries, ["csv_ingest", "emission_recalc", "aggregation"],
            module=case.module, det=case.det, year=YEAR)


def _sql(q: str, **params: Any) -> list[tuple[Any, ...]]:
    with session_scope() as s:
        return [tuple(r) for r in s.execute(text(q), params)]


def _entry_ids(det: int) -> list[int]:
    return [r[0] for r in _sql("SELECT id FROM data_entries WHERE data_entry_type_id = :d"
                               " AND year = :y ORDER BY id", d=det, y=YEAR)]


def _entry_units(entries_csv: str) -> list[str]:
    return [UNIT_OF[r["unit_institutional_id"]] for r in csv.DictReader(io.StringIO(entries_csv))]


def _factor_id(det: int, classification: dict[str, Any]) -> int:
    found = _sql("SELECT id FROM factors WHERE data_entry_type_id = :d AND year = :y AND"
                 " classification @> CAST(:c AS jsonb)", d=det, y=YEAR,
                 c=json.dumps(classification))
    assert len(found) == 1, (det, classification, found)
    return int(found[0][0])


def _factors(det: int) -> dict[str, int]:
    """classification identity → factor id for this (det, year)."""
    return {k: i for i, k in _sql("SELECT id, classification_key FROM factors WHERE"
                                  " data_entry_type_id = :d AND year = :y", d=det, y=YEAR)}


def _actual_rows(det: int) -> list[tuple[Any, ...]]:
    return _sql(
        "SELECT e.data_entry_id, e.emission_type_id, e.scope, e.kg_co2eq, e.additional_value,"
        " e.primary_factor_id FROM data_entry_emissions e JOIN data_entries d ON d.id ="
        " e.data_entry_id WHERE d.data_entry_type_id = :d ORDER BY 1, 2, 6", d=det)


def _assert_rows(case: Case, expected: list[R]) -> None:
    ids = _entry_ids(case.det)
    assert len(ids) == len(_entry_units(case.entries)), ids
    want = sorted(
        ((ids[r.entry - 1], r.et, r.scope, r.kg, r.av, _factor_id(case.det, r.factor))
         for r in expected), key=lambda t: (t[0], t[1], t[5]))
    got = _actual_rows(case.det)
    assert [(g[0], g[1], g[2], g[5]) for g in got] == [(w[0], w[1], w[2], w[5]) for w in want], (
        f"rows (entry, type, scope, factor): got {got}, want {want}")
    for g, w in zip(got, want, strict=True):
        assert g[3] == pytest.approx(w[3], **KG), (g, w)
        if w[4] is None:
            assert g[4] is None, (g, w)
        else:
            assert g[4] == pytest.approx(w[4], **KG), (g, w)
    if case.strategy_a:
        # The Strategy A link on entry.data is the factor of the entry's rows.
        links = dict(_sql("SELECT id, CAST(data->>'primary_factor_id' AS integer) FROM"
                          " data_entries WHERE data_entry_type_id = :d", d=case.det))
        for w in want:
            assert links[w[0]] == w[5], (w, links)


def _assert_stats(case: Case, expected: list[R], missing_entries: tuple[int, ...] = ()) -> None:
    units = _entry_units(case.entries)
    for unit in ("LAB-A", "LAB-B"):
        mine = [r for r in expected if units[r.entry - 1] == unit]
        by_type: dict[str, float] = defaultdict(float)
        scope = {1: 0.0, 2: 0.0, 3: 0.0}
        for r in mine:
            by_type[str(r.et)] += r.kg
            scope[r.scope] += r.kg
        st = module_stats(unit, case.module, YEAR)
        assert st, f"{unit}: no module stats"
        assert st["total"] == pytest.approx(sum(r.kg for r in mine), **STATS), (unit, st)
        assert [st["scope1"], st["scope2"], st["scope3"]] == pytest.approx(
            [scope[1], scope[2], scope[3]], **STATS), (unit, st)
        assert st["by_emission_type"] == pytest.approx(dict(by_type), **STATS), (unit, st)
        assert st["entry_count"] == units.count(unit), (unit, st)
        missing = sum(1 for e in missing_entries if units[e - 1] == unit)
        assert st["missing_factors"] == missing, (unit, st)


def _recalc_meta(pipeline_id: str) -> dict[str, Any]:
    (job,) = [j for j in jobs_of(pipeline_id) if j.job_type == "emission_recalc"]
    return dict(job.meta["recalculation"])


# -- the matrix ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in MATRIX])
def test_factor_revision_propagates(db, worker, case: Case) -> None:  # type: ignore[no-untyped-def]
    _seed(case)
    _assert_rows(case, case.rows_v1)
    _assert_stats(case, case.rows_v1)
    before = _factors(case.det)

    pid = _upload("factors", case.factors_v2, ["factor_ingest", "emission_recalc", "aggregation"],
                  module=case.module, det=case.det, year=YEAR, recalculate=True)

    # Upsert in place: the same identities keep the same ids, nothing added or removed.
    assert _factors(case.det) == before
    _assert_rows(case, case.rows_v2)     # also checks each row's factor id (same as before)
    _assert_stats(case, case.rows_v2)
    meta = _recalc_meta(pid)
    n_entries = len(_entry_units(case.entries))
    assert (meta["entries"], meta["rows"], meta["missing_factors"], meta["errors"]) == (
        n_entries, len(case.rows_v2), 0, 0), meta


def test_matrix_covers_seed_001() -> None:
    assert [c.det for c in MATRIX] == [10, 11, 12, 60, 67, 40, 41, 50, 31, 30, 32, 20, 21, 1, 2]


# -- strict drop -----------------------------------------------------------------------------
DESKTOP = {"equipment_class": "Desktop", "sub_class": None}


def _assert_dropped(case: Case, entry: int, rows_left: list[R], pid: str) -> None:
    """The entry has no rows but still exists; every other entry reflects the new factors;
    missing_factors counts it (module stats and the recalculation job)."""
    ids = _entry_ids(case.det)
    assert len(ids) == len(_entry_units(case.entries)), "an entry was deleted"
    dropped = ids[entry - 1]
    assert _sql("SELECT count(*) FROM data_entry_emissions WHERE data_entry_id = :i",
                i=dropped) == [(0,)]
    _assert_rows(case, rows_left)
    _assert_stats(case, rows_left, missing_entries=(entry,))
    meta = _recalc_meta(pid)
    assert (meta["missing_factors"], meta["errors"]) == (1, 0), meta


def test_strict_drop_strategy_a_it_factor_deleted(db, worker) -> None:  # type: ignore[no-untyped-def]
    case = Case(
        "strict-drop-it", 4, 11,
        EQ_F + "Laptop,Standard,100,10,,,0.1\nDesktop,,200,20,,,0.1\n",
        EQ_E + "UA,IT-1,Laptop 1,Laptop,Standard,40,128\n"
               "UA,IT-2,Desktop 1,Desktop,Workstation,40,128\n",   # kind-only fallback
        [
            R(1, 80200, 2, (40 * 100 + 128 * 10) * 52 / 1000 * 0.1, None, LAPTOP),    # 27.456
            R(2, 80200, 2, (40 * 200 + 128 * 20) * 52 / 1000 * 0.1, None, DESKTOP),   # 54.912
        ],
        # The revised set drops Laptop (and adds Monitor): an upload never deletes a factor.
        EQ_F + "Desktop,,200,20,,,0.2\nMonitor,,30,1,,,0.1\n",
        [R(2, 80200, 2, (40 * 200 + 128 * 20) * 52 / 1000 * 0.2, None, DESKTOP)],   # 109.824
    )
    _seed(case)
    _assert_rows(case, case.rows_v1)
    _assert_stats(case, case.rows_v1)
    laptop, desktop = _factor_id(11, LAPTOP), _factor_id(11, DESKTOP)
    laptop_entry = _entry_ids(11)[0]

    # The operator removes the obsolete factor (ON DELETE CASCADE drops its rows at once, but
    # the entry still links to it and the stats are stale until the recalculation).
    _sql("DELETE FROM factors WHERE id = :i RETURNING id", i=laptop)
    assert _sql("SELECT CAST(data->>'primary_factor_id' AS integer) FROM data_entries"
                " WHERE id = :i", i=laptop_entry) == [(laptop,)]

    pid = _upload("factors", case.factors_v2, ["factor_ingest", "emission_recalc", "aggregation"],
                  module=4, det=11, year=YEAR, recalculate=True)
    assert _factor_id(11, DESKTOP) == desktop           # upserted in place
    assert len(_factors(11)) == 2                        # Desktop + the new Monitor
    _assert_dropped(case, 1, case.rows_v2, pid)
    # Strategy A: the stale link is cleared (the entry.data key stays, as null).
    assert _sql("SELECT data->'primary_factor_id' FROM data_entries WHERE id = :i",
                i=laptop_entry) == [(None,)]


def test_strict_drop_strategy_b_plane_band_revised_by_upload(db, worker) -> None:  # type: ignore[no-untyped-def]
    case = Case(
        "strict-drop-plane", 2, 20,
        PL_F + ("short_to_medium_haul,economy,0.2906,1.35,0,2500\n"
                "medium_to_long_haul,business,0.393,1.35,2500,999999\n"),
        PLANE_E,
        [
            R(1, 50203, 3, GVA_CDG * 2 * 0.2906 * 1.35, GVA_CDG * 2, SHORT_ECO),   # 394.66386
            R(2, 50202, 3, CDG_JFK * 1 * 0.393 * 1.35, CDG_JFK * 1, LONG_BUS),     # 3145.63095
        ],
        # Same identities, revised values: the economy band now ends at 400 km, below the
        # 503 km per-trip distance of GVA→CDG, so no economy band matches that entry.
        PL_F + ("short_to_medium_haul,economy,0.2906,1.35,0,400\n"
                "medium_to_long_haul,business,0.4,1.35,2500,999999\n"),
        [R(2, 50202, 3, CDG_JFK * 1 * 0.4 * 1.35, CDG_JFK * 1, LONG_BUS)],         # 3201.66
        strategy_a=False,
    )
    _seed(case)
    _assert_rows(case, case.rows_v1)
    _assert_stats(case, case.rows_v1)
    before = _factors(20)
    pid = _upload("factors", case.factors_v2, ["factor_ingest", "emission_recalc", "aggregation"],
                  module=2, det=20, year=YEAR, recalculate=True)
    assert _factors(20) == before                        # nothing deleted, ids unchanged
    _assert_dropped(case, 1, case.rows_v2, pid)


def test_strict_drop_strategy_b_train_country_factor_deleted(db, worker) -> None:  # type: ignore[no-untyped-def]
    case = Case(
        "strict-drop-train", 2, 21,
        TR_F + "CH,0.01\nFR,0.03\n",                     # no RoW fallback in this set
        TRAIN_E,
        [
            R(1, 50102, 3, GVA_LSN * 2 * 0.01, GVA_LSN * 2, CH),    # 1.22
            R(2, 50101, 3, GVA_PAR * 1 * 0.03, GVA_PAR * 1, FR),    # 489 × 0.03 = 14.67
        ],
        TR_F + "CH,0.012\n",
        [R(1, 50102, 3, GVA_LSN * 2 * 0.012, GVA_LSN * 2, CH)],     # 1.464
        strategy_a=False,
    )
    _seed(case)
    _assert_rows(case, case.rows_v1)
    _assert_stats(case, case.rows_v1)
    ch = _factor_id(21, CH)
    _sql("DELETE FROM factors WHERE id = :i RETURNING id", i=_factor_id(21, FR))
    pid = _upload("factors", case.factors_v2, ["factor_ingest", "emission_recalc", "aggregation"],
                  module=2, det=21, year=YEAR, recalculate=True)
    assert _factors(21) == {json.dumps({"country_code": "CH"}, separators=(",", ":")): ch}
    _assert_dropped(case, 2, case.rows_v2, pid)
