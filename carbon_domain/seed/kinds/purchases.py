"""Purchases 60–66 (spend × EF per EUR) and additional purchases 67 (kg × EF per kg).

Each institutional code (8-digit UNSPSC-like or a letter family) has a per-code average
factor (no additional code) and 0–3 factors for additional codes such as ``NB34``. An
entry either names one of those additional codes (it wins, override-first) or only the
institutional code (the average wins): every entry matches exactly one factor.
"""

from __future__ import annotations

import random

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.seed.kinds.base import EntryFn, EntryRows, FactorFn, TypeSpec
from carbon_domain.seed.sampling import Weighted, lognormal
from carbon_domain.seed.university import Unit, University

Family = tuple[str, str]  # (institutional code, description)
# det → (EF kg/EUR, median spend CHF, additional-code prefix, families, item words, suppliers)
CATALOG: dict[D, tuple[float, float, str, tuple[Family, ...], tuple[str, ...], tuple[str, ...]]] = {
    D.scientific_equipment: (0.40, 3000, "NB", (
        ("41100000", "Laboratory and scientific equipment"),
        ("41110000", "Measuring, observing and testing instruments"),
        ("41115300", "Light and wave generating and measuring equipment"),
        ("41115400", "Spectroscopic equipment"), ("41104000", "Sampling equipment"),
        ("41103000", "Laboratory cooling equipment"),
        ("41111900", "Electrical measuring instruments"), ("D", "Scientific equipment")),
        ("Cathode", "Detector", "Laser diode", "Vacuum pump", "Objective lens", "Sensor"),
        ("Gloor Instruments AG", "Thermo Fisher Scientific", "Carl Zeiss AG", "Bruker")),
    D.it_equipment: (0.45, 900, "IA", (
        ("43211500", "Computers"), ("43211600", "Computer accessories"),
        ("43211900", "Computer displays"), ("43222600", "Network service equipment"),
        ("43201800", "Media storage devices"), ("43212100", "Computer printers"),
        ("I", "IT equipment")),
        ("Laptop", "USB-C cable", "Docking station", "SSD 2 TB", "Switch 24 ports", "Monitor"),
        ("Digitec Galaxus AG", "Dell SA", "Apple Distribution", "Brack.ch AG")),
    D.consumable_accessories: (0.38, 150, "LB", (
        ("41121500", "Pipettes and liquid handling"), ("41122400", "Laboratory implements"),
        ("41121800", "General laboratory glassware"),
        ("41123300", "Laboratory enclosure accessories"), ("44120000", "Office supplies"),
        ("31160000", "Hardware"), ("K", "Consumables")),
        ("Pipette tips", "Nitrile gloves", "Petri dishes", "Beakers", "Filters", "Tubes"),
        ("Sigma-Aldrich Chemie GmbH", "VWR International GmbH", "Huber+Co AG", "Faust")),
    D.biological_chemical_gaseous_product: (0.50, 300, "LA", (
        ("12000000", "Chemicals including bio chemicals and gas materials"),
        ("12140000", "Elements and gases"), ("12352100", "Organic derivatives"),
        ("41106000", "Molecular biology reagents"),
        ("51000000", "Drugs and pharmaceutical products"), ("51100000", "Anti-infective drugs"),
        ("B", "Biological, chemical and gaseous products")),
        ("Ethanol 96%", "Acetone", "Antibody kit", "Helium cylinder", "Buffer", "Enzyme"),
        ("Merck (Schweiz) AG", "PanGas AG", "Carbagas AG", "Tinovamed GmbH")),
    D.services: (0.20, 1500, "XC", (
        ("80000000", "Management and business professionals"), ("81110000", "Computer services"),
        ("72150000", "Specialized trade construction and maintenance"),
        ("73152100", "Manufacturing equipment maintenance"),
        ("78100000", "Mail and cargo transport"), ("86100000", "Vocational training"),
        ("A", "Services")),
        ("Maintenance contract", "Courier", "Calibration", "Software licence", "Training"),
        ("DHL Express Schweiz AG", "Milian SA", "Bentley Systems", "Swisscom AG")),
    D.vehicles: (0.55, 15000, "AD", (
        ("25101500", "Passenger motor vehicles"), ("25101900", "Specialized vehicles"),
        ("25170000", "Transportation components and systems"),
        ("25160000", "Non motorized cycles")),
        ("Electric van", "Cargo bike", "Tyres", "Service vehicle"),
        ("AMAG Import AG", "Emil Frey AG", "Velo Lausanne")),
    D.other_purchases: (0.34, 400, "XA", (
        ("56100000", "Accommodation furniture"), ("55100000", "Printed media"),
        ("60100000", "Teaching aids"), ("H", "Other purchases")),
        ("Office chair", "Books", "Poster printing", "Whiteboard"),
        ("Lista Office AG", "Payot SA", "Repro EPFL")),
}
CURRENCIES = Weighted([("chf", 85), ("eur", 10), ("usd", 5)])
COLUMNS = ("purchase_institutional_code", "purchase_institutional_description",
           "purchase_additional_code", "ef_kg_co2eq_per_currency", "currency")
ENTRY_COLUMNS = ("name", "supplier", "quantity", "total_spent_amount", "currency",
                 "purchase_institutional_code", "purchase_additional_code")


def _codes(det: D) -> list[tuple[str, str, float, list[tuple[str, float]]]]:
    """The institution's code list for a type: a constant of the 'university', the same
    for every seed, so factors and entries agree without sharing a stream."""
    ef, _median, prefix, families, _items, _sup = CATALOG[det]
    rng = random.Random(f"purchases:{int(det)}")
    out, n = [], 0
    for code, desc in families:
        extras = []
        for _ in range(rng.randrange(0, 4)):
            n += 1
            extras.append((f"{prefix}{n:02d}", round(ef * rng.uniform(0.6, 1.5), 3)))
        out.append((code, desc, round(ef * rng.uniform(0.8, 1.2), 3), extras))
    return out


def _factors(det: D) -> FactorFn:
    def rows(_uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for code, desc, ef, extras in _codes(det):
            out.append((code, desc, "", ef, "eur"))
            out += [(code, desc, add, add_ef, "eur") for add, add_ef in extras]
        return out
    return rows


def _entries(det: D) -> EntryFn:
    _ef, median, _prefix, _families, items, suppliers = CATALOG[det]
    codes = Weighted((c, 1.0 if len(c[0]) == 1 else 3.0) for c in _codes(det))

    def make(_uni: University, rng: random.Random) -> EntryRows:
        def row(_u: Unit, code: str | None = None) -> tuple[object, ...]:
            add = ""
            if code is None:
                code, _desc, _ef, extras = codes.pick(rng)
                if extras and rng.random() < 0.3:
                    add = extras[rng.randrange(len(extras))][0]
            qty = 1 if rng.random() < 0.7 else rng.randrange(2, 21)
            return (items[rng.randrange(len(items))], suppliers[rng.randrange(len(suppliers))],
                    qty, f"{lognormal(rng, median, 1.2, 16.59, 137081.61):.2f}",
                    CURRENCIES.pick(rng), code, add)
        return EntryRows(row, lambda u: row(u, "99999999"))
    return make


# Additional purchases: (name, unit, coef to kg, kg CO2-eq per kg, weight, median quantity)
LIQUIDS = (("Liquid Nitrogen", "l", 0.808, 0.25, 60, 3000),
           ("Liquid Helium", "l", 0.125, 8.0, 15, 400),
           ("Dry ice", "kg", 1.0, 1.2, 20, 200),
           ("Liquid Argon", "l", 1.4, 0.3, 5, 300))
LIQUID_PICK = Weighted((x, x[4]) for x in LIQUIDS)


def _liquid_factors(_uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
    return [(name, ef) for name, _u, _c, ef, *_ in LIQUIDS]


def _liquids(_uni: University, rng: random.Random) -> EntryRows:
    def row(_u: Unit) -> tuple[object, ...]:
        name, unit, coef, _ef, _w, median = LIQUID_PICK.pick(rng)
        return (name, unit, f"{lognormal(rng, median, 1.0, 5, 100000):.0f}", coef)
    return EntryRows(row, lambda _u: ("Liquid Neon", "l", "10", "1.2"))


PURCHASE_DETS = tuple(CATALOG)
SPECS = (
    *(TypeSpec(det, COLUMNS, _factors(det), ENTRY_COLUMNS, _entries(det))
      for det in PURCHASE_DETS),
    TypeSpec(D.additional_purchases, ("name", "ef_kg_co2eq_per_kg"), _liquid_factors,
             ("name", "unit", "annual_consumption", "coef_to_kg"), _liquids),
)
