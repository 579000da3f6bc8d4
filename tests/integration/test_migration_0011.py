"""Migration 0011 on a database with reference data, on PostgreSQL and on SQLite (the
embedded ``carbon demo``): stations keyed by (name, country), reference rows gain their
change and retirement stamps, and the downgrade leaves a database 0009's code reads
correctly (retired rows gone, one station per name)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, exc, text

from carbon_domain.db import migrate

pytestmark = pytest.mark.integration


def _exec(url: str, *statements: str) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        for sql in statements:
            c.execute(text(sql))
    engine.dispose()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    with engine.connect() as c:
        rows = [tuple(r) for r in c.execute(text(sql))]
    engine.dispose()
    return rows


def test_0011_upgrade_and_downgrade_with_data(url: str) -> None:
    migrate.upgrade(url, "0009")
    _exec(url,
          "INSERT INTO stations (id, name, latitude, longitude, country_code) VALUES"
          " (1, 'Paris', 48.84, 2.37, 'FR'), (2, 'Geneva', 46.2, 6.14, 'CH')",
          "INSERT INTO building_rooms (id, building_name, room_name, room_type,"
          " room_surface_square_meter) VALUES (1, 'BC', 'BC 1', 'office', 20),"
          " (2, 'BC', 'BC 2', NULL, 30)",
          "INSERT INTO exchange_rates (year, currency, rate_to_eur) VALUES (2025, 'usd', 0.9),"
          " (2025, 'chf', 1.05)")
    migrate.upgrade(url, "0011")

    # Existing rows are live and carry no change stamp.
    assert _rows(url, "SELECT id, name, country_code, changed_by_job_id, retired_by_job_id"
                      " FROM stations ORDER BY id") == [(1, "Paris", "FR", None, None),
                                                        (2, "Geneva", "CH", None, None)]
    assert _rows(url, "SELECT count(*) FROM building_rooms WHERE retired_by_job_id IS NULL"
                      " AND changed_by_job_id IS NULL") == [(2,)]
    assert _rows(url, "SELECT currency, rate_to_eur, retired_by_job_id FROM exchange_rates"
                      " ORDER BY currency") == [("chf", 1.05, None), ("usd", 0.9, None)]
    # A second Paris in another country is a second station; the same (name, country) is not.
    _exec(url, "INSERT INTO stations (id, name, latitude, longitude, country_code,"
               " changed_by_job_id) VALUES (3, 'Paris', 33.66, -95.55, 'US', 7)")
    with pytest.raises(exc.IntegrityError):
        _exec(url, "INSERT INTO stations (name, latitude, longitude, country_code)"
                   " VALUES ('Paris', 1, 1, 'FR')")
    _exec(url, "UPDATE building_rooms SET retired_by_job_id = 7, changed_by_job_id = 7"
               " WHERE id = 2",
          "UPDATE exchange_rates SET retired_by_job_id = 7 WHERE currency = 'usd'")

    migrate.downgrade(url, "0009")
    # Retired rows are gone (0009 would read them again); one Paris, the oldest, remains.
    assert _rows(url, "SELECT id, name, country_code FROM stations ORDER BY id") == [
        (1, "Paris", "FR"), (2, "Geneva", "CH")]
    assert _rows(url, "SELECT id FROM building_rooms") == [(1,)]
    assert _rows(url, "SELECT currency FROM exchange_rates") == [("chf",)]
    with pytest.raises(exc.IntegrityError):
        _exec(url, "INSERT INTO stations (name, latitude, longitude, country_code)"
                   " VALUES ('Paris', 1, 1, 'US')")
    migrate.upgrade(url, "0011")
    assert _rows(url, "SELECT count(*) FROM stations WHERE retired_by_job_id IS NULL") == [(2,)]
