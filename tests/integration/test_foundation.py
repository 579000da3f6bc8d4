"""Foundation guarantees: migrations round-trip, partial unique indexes, the worker harness."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from carbon_domain.db import migrate
from carbon_domain.db.models import Base


def _insert_job(conn, **kw):  # type: ignore[no-untyped-def]
    row = {
        "job_type": "emission_recalc", "module_type_id": 2, "data_entry_type_id": 20,
        "year": 2025, "target_type": "DATA_ENTRIES", "ingestion_method": "computed",
        "state": "RUNNING", "is_current": False, "meta": "{}",
    } | kw
    conn.execute(text(
        "INSERT INTO data_ingestion_jobs (job_type, module_type_id, data_entry_type_id, year,"
        " target_type, ingestion_method, state, is_current, meta) VALUES (:job_type,"
        " :module_type_id, :data_entry_type_id, :year, :target_type, :ingestion_method,"
        " :state, :is_current, CAST(:meta AS JSONB))"), row)


def _rejected(db: str, *rows: dict) -> bool:  # type: ignore[type-arg]
    engine = create_engine(db)
    try:
        with engine.begin() as conn:
            for r in rows:
                _insert_job(conn, **r)
        return False
    except IntegrityError:
        return True
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM data_ingestion_jobs"))
        engine.dispose()


class TestMigrations:
    def test_postgres_round_trip_and_models_match(self, pg_database: str) -> None:
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        migrate.downgrade(pg_database, "base")
        with create_engine(pg_database).connect() as c:
            tables = set(c.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars())
        assert tables <= {"alembic_version"}
        migrate.upgrade(pg_database)
        engine = create_engine(pg_database)
        with engine.connect() as c:
            diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}),
                                    Base.metadata)
        engine.dispose()
        assert diff == []

    def test_sqlite_round_trip(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        url = f"sqlite:///{tmp_path / 'rt.db'}"
        migrate.upgrade(url)
        migrate.downgrade(url, "base")
        migrate.upgrade(url)
        engine = create_engine(url)
        with engine.connect() as c:
            names = set(c.execute(text(
                "SELECT name FROM sqlite_master WHERE type='table'")).scalars())
        engine.dispose()
        assert set(Base.metadata.tables) <= names


class TestPartialUniqueIndexes:
    def test_second_active_recalc_for_same_key_is_rejected(self, db: str) -> None:
        assert _rejected(db, {}, {"state": "QUEUED"})

    def test_different_key_is_accepted(self, db: str) -> None:
        assert not _rejected(db, {}, {"data_entry_type_id": 21}, {"year": 2024})

    def test_finished_recalc_does_not_block(self, db: str) -> None:
        assert not _rejected(db, {"state": "FINISHED"}, {"state": "FINISHED"}, {})

    def test_second_active_aggregation_is_rejected(self, db: str) -> None:
        agg = {"job_type": "aggregation", "data_entry_type_id": None, "target_type": "STATISTICS"}
        assert _rejected(db, agg, agg | {"state": "NOT_STARTED"})
        assert not _rejected(db, agg, agg | {"module_type_id": 3})
        assert not _rejected(db, agg | {"state": "FINISHED"}, agg)

    def test_two_current_module_level_jobs_collide_with_null_det(self, db: str) -> None:
        mod = {"job_type": "factor_ingest", "data_entry_type_id": None, "target_type": "FACTORS",
               "ingestion_method": "csv", "is_current": True, "state": "FINISHED"}
        assert _rejected(db, mod, mod)
        assert not _rejected(db, mod, mod | {"is_current": False})


def test_same_classification_in_another_key_order_is_one_factor(db: str) -> None:
    from sqlalchemy import select

    from carbon_domain.db.models import Factor
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.inputs.factors import upsert_factor_rows

    with session_scope() as s:
        upsert_factor_rows(s, year=2025, job_id=None, rows=[
            (11, 80200, {"equipment_class": "Laptop", "sub_class": None},
             {"ef_kg_co2eq_per_kwh": 0.1}),
        ])
    with session_scope() as s:
        upsert_factor_rows(s, year=2025, job_id=None, rows=[
            (11, 80200, {"sub_class": None, "equipment_class": "Laptop"},
             {"ef_kg_co2eq_per_kwh": 0.2}),
        ])
    with session_scope() as s:
        factors = s.scalars(select(Factor)).all()
        assert len(factors) == 1
        assert factors[0].values == {"ef_kg_co2eq_per_kwh": 0.2}


@pytest.mark.integration
class TestWorkerHarness:
    def test_trivial_task_round_trips_through_redis(self, worker) -> None:  # type: ignore[no-untyped-def]
        from tests.celery_tasks import echo
        assert echo.delay(41).get(timeout=20) == 41

    def test_chord_of_50_calls_body_once_with_50_results(self, worker) -> None:  # type: ignore[no-untyped-def]
        from celery import chord

        from tests.celery_tasks import collect, echo
        res = chord([echo.s(i) for i in range(50)])(collect.s())
        assert res.get(timeout=60) == {"n": 50, "sum": sum(range(50)), "calls": 1}
