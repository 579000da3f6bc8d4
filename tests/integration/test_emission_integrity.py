"""Emission rows carry no foreign keys (migration 0008): integrity is kept by triggers on the
parents and proven by the consistency check. Also: 0008 upgrades a database with data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect, text

from carbon_domain.db import emission_partitions, migrate

pytestmark = pytest.mark.integration


def _fresh_db(services: None) -> Iterator[str]:  # noqa: ARG001
    from tests.conftest import PG_ADMIN

    name = f"carbon_integrity_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        from carbon_domain.db.session import engine_for
        engine_for.cache_clear()
        with admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": name})
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def fresh_db(services: None) -> Iterator[str]:
    yield from _fresh_db(services)


def _seed_rows(url: str) -> None:
    """Two units with reports, modules, 3 entries each, factors and emission rows."""
    engine = create_engine(url)
    # Since migration 0014 the rows live in their slice's partition, whose own defaults
    # file them under the entry's type and year.
    partitioned = inspect(engine).has_table("emission_stages")
    table = "data_entry_emissions_t11_y2025" if partitioned else "data_entry_emissions"
    with engine.begin() as c:
        if partitioned:
            c.execute(text(emission_partitions.type_partition_sql(11)))
            c.execute(text(emission_partitions.leaf_partition_sql(11, 2025)))
            c.execute(text(emission_partitions.leaf_defaults_sql(11, 2025)))
        for u in (1, 2):
            c.execute(text("INSERT INTO units (id, institutional_code, institutional_id, name,"
                           " level, is_active) VALUES (:u, :code, :iid, 'Lab', 4, true)"),
                      {"u": u, "code": f"L{u}", "iid": f"{1000 + u}"})
            c.execute(text("INSERT INTO carbon_reports (id, unit_id, year) VALUES (:u, :u, 2025)"),
                      {"u": u})
            c.execute(text("INSERT INTO carbon_report_modules (id, carbon_report_id,"
                           " module_type_id, status) VALUES (:u, :u, 4, 0)"), {"u": u})
        for f in (1, 2):
            c.execute(text(
                "INSERT INTO factors (id, data_entry_type_id, emission_type_id, year,"
                " classification, classification_key, \"values\") VALUES (:f, 11, 80200, 2025,"
                " CAST(:c AS jsonb), :c, CAST('{}' AS jsonb))"),
                {"f": f, "c": f'{{"equipment_class": "C{f}"}}'})
        for e in range(1, 7):
            unit = 1 if e <= 3 else 2
            c.execute(text(
                "INSERT INTO data_entries (id, carbon_report_module_id, data_entry_type_id,"
                " data, source, year, unit_id) VALUES (:e, :m, 11, CAST('{}' AS jsonb), 'csv',"
                " 2025, :m)"), {"e": e, "m": unit})
            c.execute(text(
                f"INSERT INTO {table} (data_entry_id, emission_type_id, scope,"
                " kg_co2eq, primary_factor_id) VALUES (:e, 80200, 2, 1.5, :f)"),
                {"e": e, "f": 1 if e % 2 else 2})
    engine.dispose()


def _count(url: str, sql: str) -> int:
    engine = create_engine(url)
    with engine.connect() as c:
        n = int(c.execute(text(sql)).scalar() or 0)
    engine.dispose()
    return n


def _check(url: str) -> dict[str, int | bool]:
    from sqlalchemy.orm import Session

    from carbon_domain.services.upkeep.integrity import check_emission_integrity
    engine = create_engine(url)
    with Session(engine) as s:
        report = check_emission_integrity(s).as_dict()
    engine.dispose()
    return report


def test_0008_upgrades_a_database_with_data_and_keeps_every_row(fresh_db: str) -> None:
    migrate.upgrade(fresh_db, "0002")
    _seed_rows(fresh_db)
    fks = ("SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
           " AND conrelid = 'data_entry_emissions'::regclass")
    assert _count(fresh_db, fks) == 2
    migrate.upgrade(fresh_db)
    assert _count(fresh_db, fks) == 0
    assert _count(fresh_db, "SELECT count(*) FROM data_entry_emissions") == 6
    assert _check(fresh_db)["ok"] is True
    # Downgrade restores the constraints over the same rows, and upgrade again works.
    migrate.downgrade(fresh_db, "0002")
    assert _count(fresh_db, fks) == 2
    assert _count(fresh_db, "SELECT count(*) FROM data_entry_emissions") == 6
    migrate.upgrade(fresh_db)
    assert _count(fresh_db, "SELECT count(*) FROM data_entry_emissions") == 6


def test_parent_deletions_take_their_rows_in_the_same_statement(fresh_db: str) -> None:
    migrate.upgrade(fresh_db)
    _seed_rows(fresh_db)
    engine = create_engine(fresh_db)
    with engine.begin() as c:
        # Entry replacement, as a data entry upload does it.
        c.execute(text("DELETE FROM data_entries WHERE id = 1"))
        assert c.execute(text("SELECT count(*) FROM data_entry_emissions")).scalar() == 5
    with engine.begin() as c:
        # A cascade from a unit → report → module → entries (3 entries of unit 2).
        c.execute(text("DELETE FROM units WHERE id = 2"))
    with engine.begin() as c:
        # A deleted factor takes its rows (what ON DELETE CASCADE did).
        c.execute(text("DELETE FROM factors WHERE id = 2"))
    remaining = _count(fresh_db, "SELECT count(*) FROM data_entry_emissions")
    assert remaining == 1  # entry 3 (factor 1); entry 2 went with factor 2
    assert _check(fresh_db) == {"rows_without_entry": 0, "rows_without_factor": 0,
                                "rows_without_scope": 0, "rows_in_wrong_slice": 0, "ok": True}
    with engine.begin() as c:
        c.execute(text("TRUNCATE data_entries CASCADE"))
    assert _count(fresh_db, "SELECT count(*) FROM data_entry_emissions") == 0
    engine.dispose()


def test_check_finds_orphans_written_behind_the_triggers_back(fresh_db: str) -> None:
    migrate.upgrade(fresh_db)
    _seed_rows(fresh_db)
    engine = create_engine(fresh_db)
    with engine.begin() as c:
        c.execute(text("ALTER TABLE data_entries DISABLE TRIGGER USER"))
        c.execute(text("DELETE FROM data_entries WHERE id IN (1, 2)"))
        c.execute(text("ALTER TABLE data_entries ENABLE TRIGGER USER"))
        c.execute(text("INSERT INTO data_entry_emissions (data_entry_id, data_entry_type_id,"
                       " year, emission_type_id, scope, kg_co2eq, primary_factor_id) VALUES"
                       " (3, 11, 2025, 80200, 2, 1.0, 999)"))
    engine.dispose()
    report = _check(fresh_db)
    assert report["rows_without_entry"] == 2
    assert report["rows_without_factor"] == 1
    assert report["rows_in_wrong_slice"] == 0
    assert report["ok"] is False


def test_check_finds_a_row_filed_under_another_slice(fresh_db: str) -> None:
    migrate.upgrade(fresh_db)
    _seed_rows(fresh_db)
    assert _check(fresh_db)["ok"] is True
    engine = create_engine(fresh_db)
    with engine.begin() as c:
        c.execute(text(emission_partitions.leaf_partition_sql(11, 2024)))
        # Entry 3 is an it entry of 2025; this row says 2024.
        c.execute(text("INSERT INTO data_entry_emissions (data_entry_id, data_entry_type_id,"
                       " year, emission_type_id, scope, kg_co2eq) VALUES"
                       " (3, 11, 2024, 80200, 2, 1.0)"))
    engine.dispose()
    report = _check(fresh_db)
    assert (report["rows_in_wrong_slice"], report["rows_without_entry"]) == (1, 0)
    assert report["ok"] is False


def test_carbon_db_check_cli(fresh_db: str) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    migrate.upgrade(fresh_db)
    _seed_rows(fresh_db)
    carbon = str(Path(sys.executable).parent / "carbon")
    env = {**os.environ, "CARBON_DATABASE_URL": fresh_db}
    ok = subprocess.run([carbon, "db", "check", "--json"], env=env, capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    engine = create_engine(fresh_db)
    with engine.begin() as c:
        c.execute(text("ALTER TABLE data_entries DISABLE TRIGGER USER"))
        c.execute(text("DELETE FROM data_entries WHERE id = 1"))
        c.execute(text("ALTER TABLE data_entries ENABLE TRIGGER USER"))
    engine.dispose()
    bad = subprocess.run([carbon, "db", "check"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1
    assert "1 rows without their entry" in " ".join(bad.stderr.split())
    assert "Traceback" not in bad.stderr
