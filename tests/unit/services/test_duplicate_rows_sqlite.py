"""On SQLite (the embedded default), a factor or reference file that gives a key twice keeps
its last row and reports every earlier one as skipped, naming the row whose values were
kept; the result is WARNING. The ingest services run on a session, as the worker runs them
(tests/integration/test_duplicate_rows.py runs the same files through the worker on
PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.models import Factor
from carbon_domain.services.ingest.ingest import ingest_factors, ingest_reference
from carbon_domain.services.inputs.reference_reads import reference_rows
from carbon_domain.services.inputs.uploads import store_upload
from carbon_domain.services.jobs import jobs

YEAR = 2025


def _job(s: Session, body: str, job_type: JobType, target: TargetType, **kw: Any) -> Any:
    upload = store_upload(s, filename="f.csv", content=body.encode(), content_type=None,
                          created_by="alice")
    return jobs.create_job(s, pipeline_id=None, job_type=job_type, target_type=target,
                           ingestion_method=IngestionMethod.csv, created_by="alice",
                           upload_id=upload, **kw)


def test_factor_rows_of_one_key_keep_the_last_and_report_the_others(session: Session) -> None:
    body = ("equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
            "Laptop,,100,10,0.1\nLaptop,,100,10,0.2\nLaptop,,100,10,0.3\n")
    job = _job(session, body, JobType.factor_ingest, TargetType.FACTORS, module_type_id=4,
               data_entry_type_id=11, year=YEAR, config={"mode": "replace"})
    out = ingest_factors(session, job)
    kept = ("duplicate of row 4, whose values were kept (the last row of a factor wins):"
            " it factor equipment_class='Laptop'")
    assert (out.result, out.meta["rows"], out.meta["processed"], out.meta["skipped"]) == (
        "WARNING", 3, 1, 2)
    assert out.meta["row_errors"] == [{"row": 2, "reason": kept}, {"row": 3, "reason": kept}]
    (laptop,) = session.scalars(select(Factor)).all()
    assert laptop.values["ef_kg_co2eq_per_kwh"] == 0.3


def test_rate_rows_of_one_key_keep_the_last_and_report_the_others(session: Session) -> None:
    body = "year,currency,rate_to_eur\n2024,usd,0.9\n2025,usd,0.8\n2024,USD,0.95\n"
    job = _job(session, body, JobType.reference_ingest, TargetType.REFERENCE_DATA,
               config={"kind": "exchange-rates", "mode": "merge"})
    out = ingest_reference(session, job)
    assert (out.result, out.meta["processed"], out.meta["skipped"], out.meta["row_errors"]) == (
        "WARNING", 2, 1, [{"row": 2, "reason": (
            "duplicate of row 4, whose values were kept (the last row of a rate wins):"
            " rate of USD for 2024")}])
    assert sorted(reference_rows(session).rates) == [(2024, "usd", 0.95), (2025, "usd", 0.8)]
