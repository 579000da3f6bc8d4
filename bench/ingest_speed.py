"""Ingest speed: a 25k-row factor CSV and a 100k-row data entry CSV through the real path."""

from __future__ import annotations

import io
import random
import time
from typing import Any


def _job_seconds(pipeline_id: str, job_type: str) -> float:
    import uuid

    from sqlalchemy import select

    from carbon_domain.db.models import DataIngestionJob as Job
    from carbon_domain.db.session import session_scope

    with session_scope() as s:
        job = s.scalars(select(Job).where(Job.pipeline_id == uuid.UUID(pipeline_id),
                                          Job.job_type == job_type)).one()
        return (job.finished_at - job.started_at).total_seconds()


def purchase_factor_csv(rows: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    cats = ["scientific_equipment", "it_equipment", "consumable_accessories",
            "biological_chemical_gaseous_product", "services", "vehicles", "other_purchases"]
    out = io.StringIO()
    out.write("purchase_category,purchase_institutional_code,purchase_additional_code,"
              "currency,ef_kg_co2eq_per_currency\n")
    for i in range(rows):
        out.write(f"{cats[i % len(cats)]},{10000000 + i},X{i % 97:02d},eur,"
                  f"{rng.uniform(0.05, 0.9):.4f}\n")
    return out.getvalue().encode()


def it_entries_csv(rows: int, unit_ids: list[str], seed: int = 8) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    out.write("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
              "active_usage_hours_per_week,standby_usage_hours_per_week\n")
    for i in range(rows):
        out.write(f"{rng.choice(unit_ids)},B{i:07d},Laptop {i},BenchLaptop,,"
                  f"{rng.randint(10, 60)},{rng.randint(0, 100)}\n")
    return out.getvalue().encode()


def run_ingest(year: int, unit_ids: list[str]) -> dict[str, Any]:
    from carbon_tasks.operations import start_upload
    from carbon_tasks.waiting import wait_for_pipeline

    factors = purchase_factor_csv(25_000)
    t0 = time.perf_counter()
    acc = start_upload("factors", factors, filename="bench_purchase_factors.csv", module=5,
                       year=year + 1, created_by="bench")
    status = wait_for_pipeline(acc.pipeline_id, timeout=600).status
    factor_total = time.perf_counter() - t0
    factor_job = _job_seconds(acc.pipeline_id, "factor_ingest")
    it_factor = (b"equipment_class,sub_class,active_power_w,standby_power_w,"
                 b"ef_kg_co2eq_per_kwh\nBenchLaptop,,60,5,0.1\n")
    acc2 = start_upload("factors", it_factor, module=4, det=11, year=year + 1,
                        created_by="bench")
    wait_for_pipeline(acc2.pipeline_id, timeout=120)
    entries = it_entries_csv(100_000, unit_ids)
    t1 = time.perf_counter()
    acc3 = start_upload("data-entries", entries, filename="bench_it_entries.csv", module=4,
                        det=11, year=year + 1, created_by="bench")
    status3 = wait_for_pipeline(acc3.pipeline_id, timeout=1200).status
    entry_total = time.perf_counter() - t1
    return {"factor_rows": 25_000, "factor_status": status, "factor_job_s": factor_job,
            "factor_pipeline_s": factor_total, "entry_rows": 100_000,
            "entry_status": status3, "entry_ingest_job_s": _job_seconds(acc3.pipeline_id,
                                                                       "csv_ingest"),
            "entry_pipeline_s": entry_total}
