"""Pure-CPU throughput of the bulk engine (no database): 100k mixed entries → emission rows.

Builds realistic factor indexes (24 headcount factors, 2 plane bands × 3 cabins, ~25k purchase
codes, ...) and a deterministic mix of entries, then times ``compute_batch`` per data entry
type in chunks of 5,000 (the recalculation chunk size), best of ``--repeat`` runs (the memo of
the first run helps the next ones, as it does for the next chunk of a worker).
Prints entries/s and rows/s.

    .venv/bin/python bench/engine_throughput.py [--entries 100000] [--chunk 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carbon_domain.catalog import DataEntryType as D  # noqa: E402
from carbon_domain.emission_types import EmissionType as E  # noqa: E402
from carbon_domain.engine import compute_batch  # noqa: E402
from carbon_domain.matching import FactorIndex, FactorRecord  # noqa: E402
from carbon_domain.reference import ReferenceData  # noqa: E402

YEAR = 2024
# Share of entries per type (‰), after the magnitudes of the system we replace (its largest
# module is purchases, ~10k entries; equipment files of 50k rows): purchases and equipment
# dominate, headcount is heavy in rows (24 per member).
MIX = {D.member: 110, D.student: 10, D.scientific: 60, D.it: 150, D.other: 30, D.plane: 90,
       D.train: 40, D.building: 50, D.energy_combustion: 10, D.building_embodied_energy: 20,
       D.external_clouds: 20, D.external_ai: 20, D.process_emissions: 10,
       D.scientific_equipment: 60, D.it_equipment: 70, D.consumable_accessories: 90,
       D.biological_chemical_gaseous_product: 60, D.services: 50, D.vehicles: 5,
       D.other_purchases: 15, D.additional_purchases: 10, D.research_facilities: 10,
       D.mice_and_fish_animal_facilities: 10}
AIRPORTS = ["GVA", "ZRH", "CDG", "LHR", "FRA", "AMS", "JFK", "SFO", "LAX", "NRT", "BCN", "FCO"]
STATIONS = ["Geneva", "Lausanne", "Renens VD", "Bern", "Zürich HB", "Basel SBB",
            "Paris Gare de Lyon", "Milano Centrale", "München Hbf", "Wien Hbf"]
ROOM_TYPES = ["office", "laboratories", "archives", "libraries", "auditoriums",
              "miscellaneous", "unknown"]
FUELS = ["natural_gas", "heating_oil", "biomethane", "pellets", "forest_chips", "wood_logs",
         "propane"]
AI = ["ChatGPT (OpenAI)", "Gemini (Google)", "Mistral AI", "Claude (Anthropic)",
      "Copilot (Microsoft)"]
GASES = [("CO2", None), ("CH4", None), ("N2O", None), ("Refrigerant", "R134a"),
         ("Refrigerant", "R410a")]
PURCHASE_DETS = [D.scientific_equipment, D.it_equipment, D.consumable_accessories,
                 D.biological_chemical_gaseous_product, D.services, D.vehicles,
                 D.other_purchases]


class Ids:
    n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def build_factors(rnd: random.Random) -> dict[int, list[FactorRecord]]:
    nid, f = Ids(), defaultdict(list)
    headcount = [t for root in (E.food, E.waste, E.commuting) for t in root.subtree_leaves()]
    for det in (D.member, D.student):
        f[det] = [FactorRecord(nid(), int(t), {"headcount_category": t.path},
                               {"number_of_unit_per_fte": rnd.uniform(50, 4000),
                                "ef_kg_co2eq_per_unit": rnd.uniform(0.001, 1.0)})
                  for t in headcount[:24]]
    for det in (D.scientific, D.it, D.other):
        for c in range(300):
            for sub in (None, "Standard", "Large"):
                f[det].append(FactorRecord(nid(), 80100, {"equipment_class": f"Class {c}",
                                                          "sub_class": sub},
                                           {"active_power_w": rnd.uniform(5, 1000),
                                            "standby_power_w": rnd.uniform(0, 40),
                                            "ef_kg_co2eq_per_kwh": 0.125}))
    for band, lo, hi in (("short", 0, 2500), ("long", 2500, 999999)):
        for cabin in ("first", "business", "economy"):
            f[D.plane].append(FactorRecord(nid(), 50200, {"category": band, "cabin_class": cabin},
                                           {"ef_kg_co2eq_per_km": rnd.uniform(0.1, 0.6),
                                            "rfi_adjustment": 1.35, "min_distance": lo,
                                            "max_distance": hi}))
    for cc in ("CH", "FR", "DE", "IT", "AT", "RoW"):
        f[D.train].append(FactorRecord(nid(), 50100, {"country_code": cc},
                                       {"ef_kg_co2eq_per_km": rnd.uniform(0.006, 0.1)}))
    for b in range(60):
        f[D.building].append(FactorRecord(
            nid(), 60100, {"building_name": f"B{b}", "room_type": None},
            {"ef_kg_co2eq_per_kwh": 0.1, "heating_kwh_per_square_meter": 30,
             "cooling_kwh_per_square_meter": 20, "ventilation_kwh_per_square_meter": 10,
             "lighting_kwh_per_square_meter": 5,
             "energy_type": "electric" if b % 3 else "thermal"}))
        for cat in ("new-tech", "new-env", "ren-tech", "ren-env", "demolition"):
            f[D.building_embodied_energy].append(FactorRecord(
                nid(), 60300, {"building_name": f"B{b}" if b else "default", "category": cat},
                {"ef_kgco2eq_per_m2": rnd.uniform(1, 50)}))
    f[D.energy_combustion] = [FactorRecord(nid(), 60200, {"name": n, "unit": "kWh"},
                                           {"ef_kg_co2eq_per_unit": 0.2}) for n in FUELS]
    f[D.external_clouds] = [FactorRecord(nid(), 110102, {"provider": p, "service_type": s},
                                         {"ef_kg_co2eq_per_currency": 0.3, "currency": "eur"})
                            for p in ("AWS", "GCP", "Azure") for s in ("compute", "storage")]
    f[D.external_ai] = [FactorRecord(nid(), 110206, {"provider": p, "usage_type": "text"},
                                     {"ef_kg_co2eq_per_request": 2.0}) for p in AI]
    f[D.process_emissions] = [FactorRecord(nid(), 70200, {"category": c, "subcategory": s},
                                           {"ef_kg_co2eq_per_unit": 1000.0}) for c, s in GASES]
    for i in range(25_000):  # the ~25k-row purchase factor file
        det = PURCHASE_DETS[i % 7]
        f[det].append(FactorRecord(nid(), 90200, {"purchase_institutional_code": f"{i // 3:08d}",
                                                  "purchase_additional_code":
                                                      None if i % 3 == 0 else f"X{i}"},
                                   {"ef_kg_co2eq_per_currency": 0.4, "currency": "eur"}))
    f[D.additional_purchases] = [FactorRecord(nid(), 90901, {"name": "ln2"},
                                              {"ef_kg_co2eq_per_kg": 0.2})]
    for det in (D.research_facilities, D.mice_and_fish_animal_facilities):
        f[det] = [FactorRecord(nid(), 100100, {"researchfacility_id": f"RF{i}"},
                               {"kg_co2eq_sum": 1e5, "total_use": 1e4, "use_unit": "hours",
                                "processemissions_share": 0.2,
                                "kg_co2eq_sum_processemissions": 1e4,
                                "building_rooms_share": 1.0,
                                "kg_co2eq_sum_building_rooms": 5e4}) for i in range(20)]
    return f


def make_entry(det: int, rnd: random.Random) -> dict[str, Any]:
    r = rnd.random
    if det in (D.member, D.student):
        return {"fte": round(rnd.uniform(0.1, 1), 2)}
    if det in (D.scientific, D.it, D.other):
        return {"equipment_class": f"Class {rnd.randrange(320)}",
                "sub_class": rnd.choice([None, "Standard", "Large", "Gaming"]),
                "active_usage_hours_per_week": rnd.randrange(0, 80),
                "standby_usage_hours_per_week": rnd.randrange(0, 88)}
    if det == D.plane:
        o, d = rnd.sample(AIRPORTS, 2)
        return {"origin_iata": o, "destination_iata": d, "number_of_trips": rnd.randint(1, 10),
                "cabin_class": rnd.choice(["economy"] * 8 + ["business", "first"])}
    if det == D.train:
        o, d = rnd.sample(STATIONS, 2)
        return {"origin_name": o, "destination_name": d, "number_of_trips": rnd.randint(1, 4),
                "cabin_class": rnd.choice(["second", "first"])}
    if det == D.building:
        return {"building_name": f"B{rnd.randrange(62)}", "room_name": f"R{rnd.randrange(999)}",
                "room_type": rnd.choice(ROOM_TYPES), "room_surface_square_meter":
                    round(rnd.uniform(8, 200), 1), "room_allocation_ratio": rnd.choice([1, .5])}
    if det == D.building_embodied_energy:
        return {"building_name": f"B{rnd.randrange(65)}",
                "room_surface_square_meter": round(rnd.uniform(8, 200), 1)}
    if det == D.energy_combustion:
        return {"name": rnd.choice(FUELS), "unit": "kWh", "quantity": rnd.uniform(0, 5000)}
    if det == D.external_clouds:
        return {"provider": rnd.choice(["AWS", "GCP", "Azure"] * 6 + ["OVH"]),
                "service_type": rnd.choice(["compute", "storage"]),
                "spent_amount": rnd.uniform(0, 5000), "currency": rnd.choice(["eur", "chf"])}
    if det == D.external_ai:
        return {"provider": rnd.choice(AI), "usage_type": "text", "fte_count": rnd.uniform(.1, 5),
                "requests_per_user_per_day": rnd.choice(["1_5", "5_20", "20_100", "gt_100"])}
    if det == D.process_emissions:
        c, s = rnd.choice(GASES)
        return {"category": c, "subcategory": s, "quantity": rnd.uniform(0, 50)}
    if det in PURCHASE_DETS:
        # Codes of this type's own factor rows (plus ~4% codes nobody has: misses).
        i = rnd.randrange(26_000 // 7) * 7 + PURCHASE_DETS.index(det)  # type: ignore[arg-type]
        return {"purchase_institutional_code": f"{i // 3:08d}",
                "purchase_additional_code": f"X{i}" if r() < 0.5 else None,
                "total_spent_amount": round(rnd.uniform(100, 10_000), 2),
                "currency": rnd.choice(["chf"] * 8 + ["eur", "usd"])}
    if det == D.additional_purchases:
        return {"name": "Liquid Nitrogen", "annual_consumption": rnd.uniform(0, 5000),
                "coef_to_kg": 0.8}
    return {"researchfacility_id": f"RF{rnd.randrange(22)}", "use": rnd.uniform(0, 1000),
            "use_unit": "hours", "researchfacility_type": rnd.choice(["mice", "fish"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--repeat", type=int, default=3, help="best of N timings per type")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    refs = ReferenceData.default()
    t0 = time.perf_counter()
    factors = build_factors(rnd)
    indexes = {det: FactorIndex(det, factors[det], year=YEAR) for det in MIX}
    t_index = time.perf_counter() - t0
    total_weight = sum(MIX.values())
    entries: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    eid = 0
    for det, weight in MIX.items():
        for _ in range(args.entries * weight // total_weight):
            eid += 1
            entries[det].append((eid, make_entry(det, rnd)))
    print(f"{eid} entries, {sum(len(v) for v in factors.values())} factors "
          f"(indexes built in {t_index * 1000:.0f} ms)\n")
    print(f"{'type':<38}{'entries':>8}{'rows':>9}{'miss':>6}{'err':>5}"
          f"{'entries/s':>12}{'rows/s':>12}")
    tot_e = tot_r = 0
    tot_t = 0.0
    for det in MIX:
        items = entries[det]
        dt = float("inf")
        for _ in range(max(1, args.repeat)):  # best of N: the machine may be shared
            rows = miss = err = 0
            start = time.perf_counter()
            for i in range(0, len(items), args.chunk):
                res = compute_batch(det, items[i:i + args.chunk], indexes[det], refs)
                rows += len(res.rows)
                miss += len(res.missing)
                err += len(res.errors)
            dt = min(dt, time.perf_counter() - start)
        tot_e, tot_r, tot_t = tot_e + len(items), tot_r + rows, tot_t + dt
        print(f"{det.value:>3} {det.name:<34}{len(items):>8}{rows:>9}{miss:>6}{err:>5}"
              f"{len(items) / dt:>12,.0f}{rows / dt:>12,.0f}")
    print(f"{'overall':<38}{tot_e:>8}{tot_r:>9}{'':>11}"
          f"{tot_e / tot_t:>12,.0f}{tot_r / tot_t:>12,.0f}   ({tot_t:.2f} s)")


if __name__ == "__main__":
    main()
