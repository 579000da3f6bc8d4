"""Headcount (member 1, student 2): one factor per food / waste / commuting leaf.

Per-FTE quantities are yearly orders of magnitude for a Swiss campus (meals, kg of waste,
km commuted); students eat fewer campus meals and drive less than staff.
"""

from __future__ import annotations

import random

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.seed.kinds.base import EntryRows, FactorFn, TypeSpec
from carbon_domain.seed.sampling import Weighted
from carbon_domain.seed.university import Unit, University

# (category, class, subclass, unit, units per member FTE, per student FTE, kg CO2-eq per unit)
LEAVES = (
    ("food", "vegetarian", "", "meal", 90, 60, 1.1),
    ("food", "non_vegetarian", "", "meal", 110, 70, 2.6),
    ("waste", "incineration", "", "kg", 60, 25, 0.52),
    ("waste", "composting", "", "kg", 15, 6, 0.06),
    ("waste", "biogas", "organic_waste_food_leftovers", "kg", 20, 8, 0.05),
    ("waste", "biogas", "cooking_vegetable_oil", "kg", 1, 0.4, 0.1),
    *(("waste", "recycling", sub, "kg", q, q / 2, ef) for sub, q, ef in (
        ("paper", 25, 0.02), ("cardboard", 12, 0.02), ("plastics", 6, 0.05),
        ("glass", 4, 0.03), ("ferrous_metals", 2, 0.03), ("non_ferrous_metals", 1, 0.04),
        ("electronics", 3, 0.1), ("wood", 2, 0.01), ("pet", 2, 0.04),
        ("aluminum", 0.5, 0.05), ("textile", 0.5, 0.06),
        ("toner_and_ink_cartridges", 0.2, 0.3), ("inert_waste", 5, 0.005))),
    ("commuting", "walking", "", "km", 150, 250, 0.0),
    ("commuting", "cycling", "", "km", 400, 600, 0.006),
    ("commuting", "powered_two_wheeler", "", "km", 150, 80, 0.11),
    ("commuting", "public_transport", "", "km", 2500, 3000, 0.03),
    ("commuting", "car", "", "km", 1800, 400, 0.19),
)
COLUMNS = ("headcount_category", "headcount_class", "headcount_subclass", "unit",
           "number_of_unit_per_fte", "ef_kg_co2eq_per_unit")
FIRST = ("Anna", "Luca", "Sofia", "Noah", "Mia", "Elias", "Lea", "David", "Emma", "Jonas",
         "Chiara", "Samuel", "Yasmine", "Julien", "Aline", "Marco", "Nina", "Hugo", "Sara",
         "Mehdi", "Ines", "Tobias", "Laura", "Omar", "Claire", "Matteo", "Zoé", "Ahmed")
LAST = ("Müller", "Rossi", "Dubois", "Meier", "Favre", "Keller", "Bianchi", "Martin",
        "Schneider", "Rochat", "Nguyen", "Gerber", "Moreau", "Huber", "Fontana", "Perret",
        "Weber", "Bonvin", "Garcia", "Brunner", "Chevalley", "Kaya", "Wang", "Jaccard")
POSITIONS = Weighted([("professor", 6), ("scientific_collaborator", 20), ("postdoc", 22),
                      ("phd_student", 37), ("technical_administrative_staff", 15)])
STUDENT_GROUPS = ("Master students", "Bachelor projects", "Semester projects",
                  "Exchange students", "Doctoral school courses")


def _factors(student: bool) -> FactorFn:
    def rows(_uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
        return [(cat, cls, sub, unit, s if student else m, ef)
                for cat, cls, sub, unit, m, s, ef in LEAVES]
    return rows


def _members(uni: University, rng: random.Random) -> EntryRows:
    def row(_u: Unit) -> tuple[object, ...]:
        # Most staff are full time; the rest work 20–90 %.
        fte = 1.0 if rng.random() < 0.7 else rng.randrange(2, 10) / 10
        return (f"{FIRST[rng.randrange(len(FIRST))]} {LAST[rng.randrange(len(LAST))]}",
                POSITIONS.pick(rng), str(rng.randrange(100000, 400000)), f"{fte:.1f}")
    return EntryRows(row)


def _students(uni: University, rng: random.Random) -> EntryRows:
    def row(_u: Unit) -> tuple[object, ...]:
        # A student row is a group: its fte is the group's total attendance.
        return (STUDENT_GROUPS[rng.randrange(len(STUDENT_GROUPS))], "student", "",
                f"{rng.uniform(0.5, 25):.1f}")
    return EntryRows(row)


ENTRY_COLUMNS = ("name", "position_category", "user_institutional_id", "fte")
SPECS = (
    TypeSpec(D.member, COLUMNS, _factors(False), ENTRY_COLUMNS, _members),
    TypeSpec(D.student, COLUMNS, _factors(True), ENTRY_COLUMNS, _students),
)
