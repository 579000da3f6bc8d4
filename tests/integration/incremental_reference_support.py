"""A small random universe for incremental-equals-full over *reference* changes: train
entries over stations (two Paris in two countries), building and embodied entries over
rooms (one room name in two buildings), purchase entries over exchange rates (one factor
priced in USD). Reference revisions go through the reference set service with a finished
upload job, the way the ingest writes them."""

from __future__ import annotations

import json
import random
from typing import Any

from sqlalchemy import text

from carbon_domain.catalog import MODULE_OF, ModuleType
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.csv_rows import parse_factor_row
from carbon_domain.csv_rows.reference_rows import RateRow, RoomRow, StationRow
from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import IngestionMethod, JobResult, JobState, JobType, TargetType
from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.factors import upsert_factor_rows
from carbon_domain.services.inputs.reference_sets import write_reference_set
from carbon_domain.services.jobs import jobs

from .incremental_support import YEAR

DETS = (D.train, D.building, D.building_embodied_energy, D.services)
STATIONS = (("Geneva", 46.2, 6.14, "CH"), ("Zurich", 47.38, 8.54, "CH"),
            ("Paris", 48.84, 2.37, "FR"), ("Paris", 33.66, -95.55, "US"),
            ("Milano", 45.49, 9.2, "IT"), ("Lyon", 45.76, 4.86, "FR"))
ROOMS = (("BC", "R1"), ("BC", "R2"), ("CE", "R1"), ("CE", "R3"))
RATES = ((2025, "chf"), (2024, "chf"), (2025, "usd"), (2023, "gbp"))
UNIVERSE: list[tuple[str, Any]] = ([("stations", s) for s in STATIONS]
                                   + [("building-rooms", r) for r in ROOMS]
                                   + [("exchange-rates", r) for r in RATES])
_FACTORS: dict[int, list[dict[str, Any]]] = {
    D.train: [{"country_code": c, "ef_kg_co2eq_per_km": ef}
              for c, ef in (("CH", 0.01), ("FR", 0.02), ("US", 0.1), ("RoW", 0.05))],
    D.building: [{"building_name": b, "room_type": "office", "ef_kg_co2eq_per_kwh": 0.1,
                  "heating_kwh_per_square_meter": 30, "lighting_kwh_per_square_meter": 5,
                  "energy_type": "electric"} for b in ("BC", "CE")],
    D.building_embodied_energy: [
        {"building_name": b, "category": "new-tech", "ef_kgco2eq_per_m2": ef}
        for b, ef in (("BC", 5), ("default", 3))],
    D.services: [{"purchase_institutional_code": "A", "ef_kg_co2eq_per_currency": 0.5,
                  "currency": "eur"},
                 {"purchase_institutional_code": "B", "ef_kg_co2eq_per_currency": 0.4,
                  "currency": "usd"}],
}


def reference_row(kind: str, key: Any, rng: random.Random) -> Any:
    """A parsed reference row of the universe's ``key`` with random values."""
    if kind == "stations":
        name, lat, lon, cc = key
        return StationRow(name=name, latitude=lat + rng.uniform(-1, 1),
                          longitude=lon + rng.uniform(-1, 1), country_code=cc)
    if kind == "building-rooms":
        return RoomRow(building_name=key[0], room_name=key[1], room_type="office",
                       room_surface_square_meter=float(rng.randrange(10, 90)))
    return RateRow(year=key[0], currency=key[1], rate_to_eur=round(rng.uniform(0.5, 1.5), 3))


def write_references(kind: str, rows: list[Any]) -> int:
    """A finished replace upload of ``kind`` holding ``rows`` (an empty set retires all)."""
    with session_scope() as s:
        job = jobs.create_job(s, pipeline_id=None, job_type=JobType.reference_ingest,
                              target_type=TargetType.REFERENCE_DATA,
                              ingestion_method=IngestionMethod.csv,
                              config={"kind": kind, "mode": "replace"})
        s.flush()
        res = write_reference_set(s, kind, rows, job_id=job.id, merge=False)
        job.meta = {**job.meta, **res.meta()}
        job.state, job.result, job.finished_at = JobState.FINISHED, JobResult.SUCCESS, utcnow()
        return int(job.id)


def entry_data(det: int, rng: random.Random) -> dict[str, Any]:
    if det == D.train:
        (a, _, _, ac), (b, _, _, bc) = rng.sample(STATIONS, 2)
        return {"origin_name": a, "origin_country_code": ac, "destination_name": b,
                "destination_country_code": bc, "cabin_class": "second",
                "number_of_trips": float(rng.randrange(1, 3))}
    if det in (D.building, D.building_embodied_energy):
        d = {"building_name": rng.choice(["BC", "CE", "XX"]),
             "room_name": rng.choice(["R1", "R2", "R3", "R9"]), "room_type": "office"}
        if rng.random() < 0.2:
            d["room_surface_square_meter"] = float(rng.randrange(5, 50))
        return d
    return {"purchase_institutional_code": rng.choice(["A", "A", "B"]),
            "total_spent_amount": float(rng.randrange(100, 5000)),
            **({"currency": c} if (c := rng.choice(["chf", "usd", "gbp", "eur", ""])) else {})}


def setup(rng: random.Random, entries_per_type: int) -> None:
    """Units, reports, modules, entries and factors of ``DETS`` for ``YEAR``."""
    mods = sorted({MODULE_OF[D(d)].value for d in DETS})
    with session_scope() as s:
        modules: dict[tuple[int, int], int] = {}
        for u in (1, 2):
            s.execute(text("INSERT INTO units (id, institutional_code, institutional_id, name,"
                           " level, is_active) VALUES (:u, :c, :i, 'Lab', 4, true)"),
                      {"u": u, "c": f"L{u}", "i": f"{u}"})
            s.execute(text("INSERT INTO carbon_reports (id, unit_id, year) VALUES (:u, :u, :y)"),
                      {"u": u, "y": YEAR})
            for m in mods:
                modules[(u, m)] = s.execute(text(
                    "INSERT INTO carbon_report_modules (carbon_report_id, module_type_id, status)"
                    " VALUES (:r, :m, 0) RETURNING id"), {"r": u, "m": m}).scalar_one()
        for det in DETS:
            for _ in range(entries_per_type):
                u = rng.choice((1, 2))
                s.execute(text(
                    "INSERT INTO data_entries (carbon_report_module_id, data_entry_type_id, data,"
                    " source, year, unit_id) VALUES (:m, :d, CAST(:j AS jsonb), 'csv', :y, :u)"),
                    {"m": modules[(u, MODULE_OF[D(det)].value)], "d": int(det),
                     "j": json.dumps(entry_data(det, rng)), "y": YEAR, "u": u})
    for det in DETS:
        module = ModuleType(MODULE_OF[D(det)].value)
        job = factor_job(int(det))
        with session_scope() as s:
            parsed = [parse_factor_row(module, D(det), {k: str(v) for k, v in row.items()})
                      for row in _FACTORS[det]]
            upsert_factor_rows(s, year=YEAR, job_id=job, rows=[
                (p.det, p.emission_type_id, p.classification, p.values) for p in parsed])


def factor_job(det: int) -> int:
    module = MODULE_OF[D(det)].value
    with session_scope() as s:
        job = jobs.create_job(s, pipeline_id=None, job_type=JobType.factor_ingest,
                              target_type=TargetType.FACTORS, ingestion_method=IngestionMethod.csv,
                              module_type_id=module, data_entry_type_id=det, year=YEAR)
        s.flush()
        job.state, job.result, job.finished_at = JobState.FINISHED, JobResult.SUCCESS, utcnow()
        return int(job.id)
