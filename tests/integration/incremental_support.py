"""Small random universes for the incremental-equals-full tests: factors and entries written
straight into PostgreSQL, recalculations run through the real services (plan → chunks →
finish → aggregation) in-process, so hundreds of examples stay fast."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from carbon_domain.catalog import MODULE_OF
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import IngestionMethod, JobResult, JobState, JobType, TargetType
from carbon_domain.db.session import session_scope
from carbon_domain.services.inputs.factors import upsert_factor_rows
from carbon_domain.services.jobs import jobs, pipelines
from carbon_domain.services.recalc import recalc_chunk, recalc_finish, recalc_plan
from carbon_domain.services.recalc.aggregate import aggregate_module_year

YEAR = 2025
DETS = (D.it, D.plane, D.train, D.building_embodied_energy, D.member)
CLASSES = ("Laptop", "Desktop", "Server")
SUBS = ("", "Standard", "Performance")
CABINS = ("economy", "business")
COUNTRIES = ("CH", "FR", "IT", "RoW")
STATIONS = (("Geneva", 46.2, 6.14, "CH"), ("Zurich", 47.38, 8.54, "CH"),
            ("Paris", 48.84, 2.37, "FR"), ("Milano", 45.49, 9.2, "IT"),
            ("Wien", 48.19, 16.37, "AT"))
BUILDINGS = ("BC", "CE", "default")
HEADCOUNT = ((10001, "food", "vegetarian"), (10002, "food", "non_vegetarian"),
             (20001, "waste", "incineration"))


@dataclass(frozen=True)
class FactorSpec:
    det: int
    et: int
    classification: dict[str, Any]


def factor_universe() -> list[FactorSpec]:
    out = [FactorSpec(D.it, 80200, {"equipment_class": c, "sub_class": s or None})
           for c in CLASSES for s in SUBS]
    out += [FactorSpec(D.plane, 50202 if c == "business" else 50203,
                       {"cabin_class": c, "band": b}) for c in CABINS for b in ("short", "long")]
    out += [FactorSpec(D.train, 50102, {"country_code": c}) for c in COUNTRIES]
    out += [FactorSpec(D.building_embodied_energy, 60300, {"building_name": b, "category": k})
            for b in BUILDINGS for k in ("structure", "envelope")]
    out += [FactorSpec(D.member, et, {"headcount_category": cat, "headcount_class": cls})
            for et, cat, cls in HEADCOUNT]
    return out


def factor_values(spec: FactorSpec, rng: random.Random) -> dict[str, Any]:
    ef = round(rng.uniform(0.05, 0.5), 4)
    if spec.det == D.it:
        return {"active_power_w": rng.choice([40, 90, 300]), "standby_power_w": 2,
                "active_usage_hours_per_week": 40, "standby_usage_hours_per_week": 60,
                "ef_kg_co2eq_per_kwh": ef}
    if spec.det == D.plane:
        short = spec.classification["band"] == "short"
        band = {"min_distance": 0, "max_distance": 1500} if short else {"min_distance": 1500}
        return {**band, "ef_kg_co2eq_per_km": ef, "rfi_adjustment": rng.choice([1, 2])}
    if spec.det == D.train:
        return {"ef_kg_co2eq_per_km": ef}
    if spec.det == D.building_embodied_energy:
        return {"ef_kgco2eq_per_m2": ef * 100}
    return {"number_of_unit_per_fte": rng.choice([10, 50]), "ef_kg_co2eq_per_unit": ef}


def entry_data(det: int, rng: random.Random) -> dict[str, Any]:
    if det == D.it:
        act = rng.choice([8, 40, 60])
        return {"equipment_class": rng.choice(CLASSES + ("Unlisted",)),
                "sub_class": rng.choice(SUBS), "active_usage_hours_per_week": float(act),
                "standby_usage_hours_per_week": float(rng.randrange(0, 168 - act))}
    if det == D.plane:
        return {"origin_iata": "GVA", "destination_iata": rng.choice(["LHR", "JFK", "CDG"]),
                "cabin_class": rng.choice(CABINS), "number_of_trips": float(rng.randrange(1, 3))}
    if det == D.train:
        a, b = rng.sample([s[0] for s in STATIONS], 2)
        return {"origin_name": a, "destination_name": b,
                "cabin_class": rng.choice(["first", "second"]), "number_of_trips": 1.0}
    if det == D.building_embodied_energy:
        return {"building_name": rng.choice(["BC", "CE", "XX"]),
                "room_surface_square_meter": float(rng.randrange(10, 200))}
    return {"fte": rng.choice([0.5, 1.0])}


def setup_universe(rng: random.Random, entries_per_type: int) -> None:
    """Units, reports, modules, stations and entries; returns module id per module type."""
    with session_scope() as s:
        for name, lat, lon, cc in STATIONS:
            s.execute(text("INSERT INTO stations (name, latitude, longitude, country_code)"
                           " VALUES (:n, :a, :o, :c)"), {"n": name, "a": lat, "o": lon, "c": cc})
        modules: dict[tuple[int, int], int] = {}
        for u in (1, 2):
            s.execute(text("INSERT INTO units (id, institutional_code, institutional_id, name,"
                           " level, is_active) VALUES (:u, :c, :i, 'Lab', 4, true)"),
                      {"u": u, "c": f"L{u}", "i": f"{u}"})
            s.execute(text("INSERT INTO carbon_reports (id, unit_id, year) VALUES (:u, :u, :y)"),
                      {"u": u, "y": YEAR})
            for m in {MODULE_OF[D(d)].value for d in DETS}:
                mid = s.execute(text(
                    "INSERT INTO carbon_report_modules (carbon_report_id, module_type_id, status)"
                    " VALUES (:r, :m, 0) RETURNING id"), {"r": u, "m": m}).scalar_one()
                modules[(u, m)] = mid
        for det in DETS:
            for _ in range(entries_per_type):
                u = rng.choice((1, 2))
                s.execute(text(
                    "INSERT INTO data_entries (carbon_report_module_id, data_entry_type_id, data,"
                    " source, year, unit_id) VALUES (:m, :d, CAST(:j AS jsonb), 'csv', :y, :u)"),
                    {"m": modules[(u, MODULE_OF[D(det)].value)], "d": int(det),
                     "j": json.dumps(entry_data(det, rng)), "y": YEAR, "u": u})


def input_job(job_type: JobType, det: int | None = None) -> int:
    """A finished upload job (what an ingest leaves behind): its id stamps its changes."""
    module = MODULE_OF[D(det)].value if det is not None else None
    with session_scope() as s:
        job = jobs.create_job(s, pipeline_id=None, job_type=job_type,
                              target_type=TargetType.FACTORS, ingestion_method=IngestionMethod.csv,
                              module_type_id=module, data_entry_type_id=det, year=YEAR)
        s.flush()
        job.state, job.result, job.finished_at = JobState.FINISHED, JobResult.SUCCESS, utcnow()
        return job.id


def write_factors(job_id: int, det: int, live: dict[int, tuple[FactorSpec, dict[str, Any]]],
                  retire: list[FactorSpec]) -> None:
    """Upsert ``live`` factors (stamping real changes with ``job_id``) and retire ``retire``."""
    with session_scope() as s:
        upsert_factor_rows(s, year=YEAR, job_id=job_id, rows=[
            (det, spec.et, spec.classification, values) for spec, values in live.values()])
        from carbon_domain.csv_rows import classification_key
        for spec in retire:
            s.execute(text(
                "UPDATE factors SET retired_at = now(), retired_by_job_id = :j,"
                " changed_by_job_id = :j, updated_at = now() WHERE data_entry_type_id = :d"
                " AND year = :y AND classification_key = :k AND retired_at IS NULL"),
                {"j": job_id, "d": det, "y": YEAR, "k": classification_key(spec.classification)})
        # A revived factor (in the file again) is live and stamped as changed.
        for spec, _v in live.values():
            s.execute(text(
                "UPDATE factors SET retired_at = NULL, retired_by_job_id = NULL,"
                " changed_by_job_id = :j WHERE data_entry_type_id = :d AND year = :y"
                " AND classification_key = :k AND retired_at IS NOT NULL"),
                {"j": job_id, "d": det, "y": YEAR, "k": classification_key(spec.classification)})


def recalculate(det: int, kind: JobType,
                after_chunks: Callable[[int], None] | None = None) -> dict[str, Any]:
    """One recalculation of (det, year) through plan → every chunk → finish → aggregation,
    requested the way ``kind`` requests it (factor_ingest: incremental if possible;
    emission_recalc: an operator's full recalculation). Returns the job's scope.
    ``after_chunks(job_id)`` runs once every chunk is in, before the finish."""
    module = MODULE_OF[D(det)].value
    with session_scope() as s:
        p = pipelines.create_pipeline(s, kind=kind, module_type_id=module, year=YEAR,
                                 created_by="test")
        req = jobs.request_recalc(s, pipeline_id=p.id, module_type_id=module,
                                  data_entry_type_id=int(det), year=YEAR, created_by="test")
        job_id = req.job_id
    with session_scope() as s:
        planned = recalc_plan.plan_jobs(s, [job_id], "task-plan")
        assert len(planned) == 1
        p_job = planned[0]
    for n in p_job.chunk_nos:
        with session_scope() as s:
            env = recalc_chunk.recalculate_chunk(s, job_id, p_job.attempt, n)
            assert not env.skipped, env
    if after_chunks is not None:
        after_chunks(job_id)
    with session_scope() as s:
        out = recalc_finish.finish_job(s, job_id, p_job.attempt)
        assert out is not None and out.result != JobResult.ERROR
    with session_scope() as s:
        aggregate_module_year(s, module, YEAR)
    with session_scope() as s:
        meta = s.execute(text("SELECT meta FROM data_ingestion_jobs WHERE id = :j"),
                         {"j": job_id}).scalar_one()
    return meta["config"]["scope"]


def _key(r: tuple[Any, ...]) -> tuple[Any, ...]:
    return (r[0], r[1], -1 if r[5] is None else r[5])


def rows_of(det: int) -> list[tuple[Any, ...]]:
    with session_scope() as s:
        return sorted((tuple(r) for r in s.execute(text(
            "SELECT e.data_entry_id, e.emission_type_id, e.scope, e.kg_co2eq,"
            " e.additional_value, e.primary_factor_id FROM data_entry_emissions e"
            " JOIN data_entries d ON d.id = e.data_entry_id WHERE d.data_entry_type_id = :d"),
            {"d": int(det)})), key=_key)


def stats_of(det: int) -> list[tuple[Any, ...]]:
    module = MODULE_OF[D(det)].value
    with session_scope() as s:
        out = []
        for mid, st in s.execute(text(
                "SELECT id, stats FROM carbon_report_modules WHERE module_type_id = :m"
                " ORDER BY id"), {"m": module}):
            out.append((mid, {k: v for k, v in (st or {}).items() if k != "computed_at"}))
        return out


def expected_rows(det: int) -> list[tuple[Any, ...]]:
    """What a full recalculation writes now: the engine over the whole slice, in-process."""
    from carbon_domain.engine import compute_batch
    from carbon_domain.services.inputs.slices import load_slice_context

    with session_scope() as s:
        entries = [(i, d) for i, d in s.execute(text(
            "SELECT id, data FROM data_entries WHERE data_entry_type_id = :d AND year = :y"
            " ORDER BY id"), {"d": int(det), "y": YEAR})]
        ctx = load_slice_context(s, int(det), YEAR)
        res = compute_batch(int(det), entries, ctx.index, ctx.refs)
    return sorted(res.rows, key=_key)


def folded_totals_match_rows(det: int) -> None:
    """The module totals folded from the chunks' partial sums equal the aggregation's full
    query over the rows (kg to 1e-9 relative, counts exactly)."""
    from sqlalchemy import bindparam

    from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
    from carbon_domain.services.recalc import slice_sums
    from carbon_domain.services.recalc.aggregate import _kg_and_missing

    module = MODULE_OF[D(det)].value
    dets = [int(d) for d in MODULE_DATA_ENTRY_TYPES[ModuleType(module)]]
    with session_scope() as s:
        folded = slice_sums.module_totals(s, module, YEAR)
        assert folded is not None
        kg, missing = _kg_and_missing(s, YEAR, dets)
        entries = dict(s.execute(text(
            "SELECT carbon_report_module_id, count(*) FROM data_entries WHERE year = :y"
            " AND data_entry_type_id IN :dets GROUP BY 1").bindparams(
                bindparam("dets", expanding=True)), {"y": YEAR, "dets": dets}).all())
    assert folded.entries == entries
    assert folded.missing == missing
    assert folded.kg.keys() == kg.keys()
    for crm, by_type in kg.items():
        assert folded.kg[crm].keys() == by_type.keys(), crm
        for et, v in by_type.items():
            assert abs(folded.kg[crm][et] - v) <= 1e-9 * max(1.0, abs(v)), (crm, et)
