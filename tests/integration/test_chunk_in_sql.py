"""A full recalculation's equipment and purchase chunks computed by PostgreSQL
(services/recalc/chunk_in_sql.py, formulas in carbon_domain/engine_sql.py) write exactly the
rows the engine computes, bit for bit, relink the same entries and count the same entries,
rows, missing and errors — on random entries full of what the SQL must leave to Python:
strings for numbers, booleans, NaN-free huge and tiny numbers, overrides, odd links and
currencies, unknown keys."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from sqlalchemy import text

from carbon_domain.catalog import MODULE_OF
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.csv_rows.entries import OVERRIDE_KEY
from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.engine_sql import SQL_FORMULAS
from carbon_domain.services.inputs.factors import upsert_factor_rows
from carbon_domain.services.inputs.slices import clear_caches
from carbon_domain.services.recalc import chunk_in_sql
from carbon_domain.settings import get_settings
from tests.conftest import truncate_all
from tests.integration import incremental_support as u

pytestmark = pytest.mark.integration

ENTRIES = 400  # eight chunks of the tests' 50 entries
CLASSES = ("Laptop", "Desktop", "Server", "laptop ")
SUBS = (None, "Standard", "Performance")
INST = ("41121500", "44120000", "43211500")
ADD = (None, "LB08", "LB09", "")
EQUIPMENT = (D.scientific, D.it, D.other)
ODD = ("40", True, False, None, [], {}, "", -1, 1e-300, 1e300, 10**30, 1e-120, 0, 0.0)


def _number(rng: random.Random, hi: float) -> Any:
    if rng.random() < 0.08:
        return rng.choice(ODD)
    if rng.random() < 0.1:
        return rng.randrange(0, int(hi) + 1)
    return round(rng.uniform(0, hi), rng.choice((0, 2, 6)))


def _link(rng: random.Random, fids: list[int]) -> Any:
    r = rng.random()
    if r < 0.85:
        return rng.choice(fids)
    return rng.choice((None, "absent", 7.0, "12", 10**30, -3, True, rng.choice(fids) + 0.0))


def _it(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {
        "equipment_class": rng.choice((*CLASSES, *CLASSES, "Unlisted", None, 3)),
        "sub_class": rng.choice((*SUBS, "", ["x"])),
        "active_usage_hours_per_week": _number(rng, 100),
        "standby_usage_hours_per_week": _number(rng, 100)}
    for k in list(out):
        if rng.random() < 0.04:
            del out[k]
    return out


def _purchase(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {
        "purchase_institutional_code": rng.choice((*INST, *INST, "99999999", None, 41121500)),
        "purchase_additional_code": rng.choice((*ADD, "LB99")),
        "currency": rng.choice(("chf", "chf", "CHF", "eur", "usd", "", None, "xyz", 0, False, 1)),
        "total_spent_amount": _number(rng, 5000), "name": "Tubes"}
    for k in list(out):
        if rng.random() < 0.04:
            del out[k]
    return out


def _odd(rng: random.Random, usual: Any, *odd: Any) -> Any:
    """Mostly the usual value; now and then one the SQL must leave to Python."""
    return rng.choice(odd) if rng.random() < 0.15 else usual


def _factors(det: int, rng: random.Random) -> list[tuple[int, int, dict[str, Any],
                                                         dict[str, Any]]]:
    et = SQL_FORMULAS[det].emission_type
    rows = []
    if det in EQUIPMENT:
        for c in CLASSES[:3]:
            for s in SUBS:
                rows.append((det, et, {"equipment_class": c, "sub_class": s}, {
                    "active_power_w": _odd(rng, rng.choice((40, 90.5, 300)), None, 1e120),
                    "standby_power_w": _odd(rng, rng.choice((2, 0.5)), None, 0, 1e-130),
                    "active_usage_hours_per_week": _odd(rng, 40, None, 0),
                    "standby_usage_hours_per_week": _odd(rng, 60, None),
                    "ef_kg_co2eq_per_kwh": _odd(rng, rng.choice((0.12, 0.031, 0.5)), 1e-150,
                                                1e150, 0)}))
        return rows
    for inst in INST:
        for add in ADD[:3]:
            if add is None or rng.random() < 0.7:
                rows.append((det, et, {"purchase_institutional_code": inst,
                                       "purchase_additional_code": add}, {
                    "ef_kg_co2eq_per_currency": _odd(rng, rng.choice((0.3, 1.7, 0.05)), None,
                                                     1e-150, 2),
                    "currency": rng.choice(("eur", "chf", "usd", None))}))
    return rows


def _universe(det: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    truncate_all()
    clear_caches()
    module = MODULE_OF[D(det)].value
    with session_scope() as s:
        s.execute(text("INSERT INTO units (id, institutional_code, institutional_id, name,"
                       " level, is_active) VALUES (1, 'L1', '1', 'Lab', 4, true)"))
        s.execute(text("INSERT INTO carbon_reports (id, unit_id, year) VALUES (1, 1, :y)"),
                  {"y": u.YEAR})
        mid = s.execute(text(
            "INSERT INTO carbon_report_modules (carbon_report_id, module_type_id, status)"
            " VALUES (1, :m, 0) RETURNING id"), {"m": module}).scalar_one()
    job = u.input_job(JobType.factor_ingest, det)
    with session_scope() as s:
        upsert_factor_rows(s, year=u.YEAR, job_id=job, rows=_factors(det, rng))
        fids = [int(i) for i in s.execute(text("SELECT id FROM factors")).scalars()]
    make = _it if det in EQUIPMENT else _purchase
    with session_scope() as s:
        for _ in range(ENTRIES):
            data = make(rng)
            link = _link(rng, fids)
            if link != "absent":
                data["primary_factor_id"] = link
            if rng.random() < 0.05:
                data[OVERRIDE_KEY] = rng.choice((12.5, None, "3"))
            s.execute(text(
                "INSERT INTO data_entries (carbon_report_module_id, data_entry_type_id, data,"
                " source, year, unit_id) VALUES (:m, :d, CAST(:j AS jsonb), 'csv', :y, 1)"),
                {"m": mid, "d": det, "j": json.dumps(data), "y": u.YEAR})
    return fids


def _outcome(det: int) -> dict[str, Any]:
    """Rows, every entry's stored link, and the job's chunk counts."""
    with session_scope() as s:
        links = [tuple(r) for r in s.execute(text(
            "SELECT id, data -> 'primary_factor_id' FROM data_entries ORDER BY id"))]
        counts = s.execute(text(
            "SELECT sum(entries), sum(rows), sum(missing), sum(errors) FROM recalc_chunks c"
            " JOIN data_ingestion_jobs j ON j.id = c.job_id WHERE j.data_entry_type_id = :d"
            " GROUP BY j.id ORDER BY j.id DESC LIMIT 1"), {"d": det}).one()
    return {"rows": u.rows_of(det), "links": links, "counts": tuple(counts)}


@pytest.mark.parametrize(("det", "seed"), [
    (D.it, 1), (D.it, 2), (D.scientific, 3), (D.consumable_accessories, 1),
    (D.consumable_accessories, 2), (D.services, 3), (D.it_equipment, 4)])
def test_sql_chunks_write_what_the_engine_computes(
        db: str, monkeypatch: pytest.MonkeyPatch, det: int, seed: int) -> None:
    _universe(det, seed)
    in_sql: list[int] = []
    real = chunk_in_sql.rewrite

    def counted(*args: Any, **kwargs: Any) -> chunk_in_sql.SqlChunk:
        out = real(*args, **kwargs)
        in_sql.append(out.in_sql)
        return out

    monkeypatch.setattr(chunk_in_sql, "rewrite", counted)
    expected = u.expected_rows(det)  # the engine, in-process, before any relink
    u.recalculate(det, JobType.emission_recalc)
    with_sql = _outcome(det)
    # Through the SQL for most entries, and the odd ones left to Python.
    assert ENTRIES // 5 < sum(in_sql) < ENTRIES, in_sql
    assert with_sql["rows"] == expected  # bit for bit: the kg are compared as floats
    assert with_sql["counts"][0] == ENTRIES

    _universe(det, seed)  # the same entries again, recalculated by the engine alone
    monkeypatch.setattr(get_settings(), "chunk_sql", False)
    in_sql.clear()
    u.recalculate(det, JobType.emission_recalc)
    alone = _outcome(det)
    assert in_sql == []
    assert alone == with_sql


def test_only_a_stage_on_postgresql_takes_the_sql(db: str) -> None:
    """An incremental chunk writes in place and needs the old rows back: it keeps Python."""
    with session_scope() as s:
        assert chunk_in_sql.applies(s, int(D.it), "emission_stage_x")
        assert not chunk_in_sql.applies(s, int(D.it), None)
        assert not chunk_in_sql.applies(s, int(D.member), "emission_stage_x")
