"""Hostile input (issue 8 item 5): a table of bad files and requests, each with its documented
outcome, and proof that nothing else changed.

Outcomes (design.md §3): a file that cannot be used at all → 400 naming the problem; over the size
limit → 413; invalid path/query values → 422; data for a year without units → 409; a usable
file with bad rows → 202, the bad rows skipped and reported (row number and reason) and the
job result WARNING (or ERROR when no row is usable). Never a 5xx.

"Nothing else changes" is checked on row counts of every table an upload can touch, taken
before and after each case: a refused request changes nothing at all; an accepted one adds
its upload, its pipeline and that pipeline's jobs, and exactly the valid rows (data entries
replace the year's CSV entries of the uploaded types, so their count is checked as
``before - replaced + valid``, and the emissions likewise).

The cases share one database state (units, factors) set up once for the module; each case
measures its own deltas, so the order does not matter.
"""

from __future__ import annotations

import csv
import io
import math
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from carbon_domain.db.session import session_scope
from carbon_domain.services.access.tokens import create_token
from carbon_domain.settings import get_settings
from tests.conftest import truncate_all

from .api_support import Tokens, upload, wait_idle, wait_job, wait_pipeline
from .test_ops_cli import carbon_argv, child_env, free_port, stop, wait_http

pytestmark = [pytest.mark.fault, pytest.mark.integration]

YEAR = 2025
ENTRIES = "/v1/sync/data-entries/4"
FACTORS = "/v1/sync/factors/4"
UNITS = "/v1/sync/units"
IT = {"year": YEAR, "data_entry_type_id": 11}
# Factor files of this corpus add to the shared fixture's factors: merge mode (a replace
# upload would retire the fixture's Laptop factor and every later case would lose its rows).
IT_MERGE = {**IT, "mode": "merge"}
MB = 1024 * 1024

# Every table an upload, a trigger or the pipeline can write.
TABLES = ("factors", "data_entries", "data_entry_emissions", "units", "carbon_reports",
          "carbon_report_modules", "uploaded_files", "data_ingestion_jobs", "pipelines",
          "recalc_chunks", "stations", "building_rooms", "exchange_rates", "api_tokens",
          "console_sessions", "job_links", "pipeline_job_links",
          "pipeline_awaited_aggregations", "factor_history", "upload_previews",
          "emission_stages")
# Derived caches the aggregation folds from the rows (services/recalc/slice_sums.py): their row
# counts follow the data, so they are checked for agreement with the rows instead.
DERIVED = ("slice_emission_sums", "slice_sum_versions")
UPLOAD_KIND_TABLE = {"units": "units", "reference/stations": "stations",
                     "reference/building-rooms": "building_rooms",
                     "reference/exchange-rates": "exchange_rates"}

ENTRY_COLS = ("unit_institutional_id", "equipment_id", "name", "equipment_class", "sub_class",
              "active_usage_hours_per_week", "standby_usage_hours_per_week")
FACTOR_COLS = ("equipment_class", "sub_class", "active_power_w", "standby_power_w",
               "ef_kg_co2eq_per_kwh")
SQL_CLASS = "'); DROP TABLE factors;--"
FORMULAS = ("=cmd|' /C calc'!A0", "+SUM(1,2)", "@import url(http://evil.example/x.css)",
            "-2+3+cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","click")')
CONTROL = "Lab\x01\x07\x1b[31mred\x7f\u200b\u2028end"


def line(*cells: object) -> str:
    """One CSV record, quoted as a spreadsheet would."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


E_HEADER = line(*ENTRY_COLS)
F_HEADER = line(*FACTOR_COLS)


def entry(eid: str, name: str = "Laptop", cls: str = "Laptop", act: object = 40,
          stb: object = 128, unit: str = "UA", sub: str = "Standard") -> str:
    return line(unit, eid, name, cls, sub, act, stb)


def entries(*rows: str, header: str = E_HEADER) -> bytes:
    return (header + "".join(rows)).encode()


# -- the 1M-row files ---------------------------------------------------------------------

MILLION = 1_000_000


def million_rows(total_bytes: int) -> Iterator[bytes]:
    """A data entry file of exactly 1,000,000 realistic rows padded to ``total_bytes``,
    generated in 10k-row blocks (never held whole by the generator)."""
    header = E_HEADER.encode()
    fixed = len(entry("INV-0000000", name="").encode())
    per_row = math.ceil((total_bytes - len(header)) / MILLION)
    pad = per_row - fixed
    assert pad >= 7, f"{total_bytes} bytes cannot hold 1M rows of {fixed + 7} bytes"
    label = "Laptop {:07d}" if pad >= 14 else "{:07d}"
    yield header
    for start in range(0, MILLION, 10_000):
        yield "".join(entry(f"INV-{i:07d}", name=label.format(i).ljust(pad, "."))
                      for i in range(start, start + 10_000)).encode()


def over_the_limit() -> int:
    """1 MiB above the configured limit: above the multipart envelope's 64 KiB slack too."""
    return get_settings().max_upload_bytes + MB


# -- state ----------------------------------------------------------------------------------

@dataclass
class Env:
    client: TestClient
    tokens: Tokens


def counts() -> dict[str, int]:
    with session_scope() as s:
        row = s.execute(text("SELECT " + ", ".join(
            f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES))).mappings().one()
        return {k: int(v) for k, v in row.items()}


def csv_entries(dets: list[int]) -> tuple[int, int]:
    """(CSV data entries, their emission rows) of these types for the year: what an
    accepted data entry upload replaces."""
    with session_scope() as s:
        n = s.scalar(text("SELECT count(*) FROM data_entries WHERE year = :y AND source = 'csv'"
                          " AND data_entry_type_id = ANY(:d)"), {"y": YEAR, "d": dets})
        e = s.scalar(text("SELECT count(*) FROM data_entry_emissions e JOIN data_entries d ON"
                          " d.id = e.data_entry_id WHERE d.year = :y AND d.source = 'csv' AND"
                          " d.data_entry_type_id = ANY(:d)"), {"y": YEAR, "d": dets})
    return int(n or 0), int(e or 0)


def rows_of_job(kind: str, job_id: int) -> list[dict[str, Any]]:
    """What a job wrote, as dicts (entries: their data; factors: classification + values)."""
    with session_scope() as s:
        if kind == "data-entries":
            return [r[0] for r in s.execute(text(
                "SELECT data FROM data_entries WHERE created_by_job_id = :j ORDER BY id"),
                {"j": job_id})]
        if kind == "factors":
            return [{**r[0], **r[1]} for r in s.execute(text(
                "SELECT classification, \"values\" FROM factors WHERE last_seen_job_id = :j"
                " ORDER BY id"), {"j": job_id})]
    return []


def emissions_of_job(job_id: int) -> int:
    with session_scope() as s:
        return int(s.scalar(text(
            "SELECT count(*) FROM data_entry_emissions e JOIN data_entries d ON d.id ="
            " e.data_entry_id WHERE d.created_by_job_id = :j"), {"j": job_id}) or 0)


def module_dets(path: str, params: dict[str, Any]) -> list[int]:
    from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
    if params.get("data_entry_type_id"):
        return [int(params["data_entry_type_id"])]
    module = ModuleType(int(path.rstrip("/").rsplit("/", 1)[1]))
    return [d.value for d in MODULE_DATA_ENTRY_TYPES[module]]


@pytest.fixture(scope="module")
def env(pg_database: str, worker: Any) -> Iterator[Env]:
    """Units UA/UB with their 2025 reports, IT and process-emission factors."""
    from carbon_api.app import app

    truncate_all()
    with session_scope() as s:
        tokens = Tokens(operator=create_token(s, "hostile-ops", "operator"),
                        viewer=create_token(s, "hostile-view", "viewer"))
    with TestClient(app, raise_server_exceptions=True) as client:
        units = ("institutional_code,institutional_id,name,level,parent_institutional_code\n"
                 "LAB-A,UA,Lab A,4,\nLAB-B,UB,Lab B,4,\n")
        for path, body, params in (
            (UNITS, units, {"year": YEAR}),
            (FACTORS, F_HEADER + line("Laptop", "Standard", 100, 10, 0.1)
             + line(SQL_CLASS, "Standard", 50, 5, 0.1), IT),
            ("/v1/sync/factors/8", "category,subcategory,unit,ef_kg_co2eq_per_unit\n"
             "co2,,kg,1\n", {"year": YEAR}),
        ):
            r = upload(client, path, body, tokens.op, **params)
            assert r.status_code == 202, r.text
            p = wait_pipeline(client, r.json()["pipeline_id"], tokens.op, timeout=60)
            assert p["status"] == "SUCCESS", p
        yield Env(client, tokens)
    wait_idle()


# -- the corpus -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    path: str
    params: dict[str, Any]
    body: bytes | Callable[[], bytes | Iterator[bytes]]
    status: int
    detail: str = ""  # a fragment of the 4xx answer
    result: str | None = None  # the ingest job's result for a 202
    errors: dict[int, str] = field(default_factory=dict)  # row → reason fragment, exactly
    rows: int = 0  # rows the job writes (entries, factors, units, reference rows)
    emissions: int | None = None  # emission rows of the written entries (default: rows)
    check: Callable[[list[dict[str, Any]]], None] | None = None  # on what was written
    files: list[tuple[str, Any]] | None = None  # a hand-made multipart body

    @property
    def kind(self) -> str:
        """data-entries, factors, units or reference/<kind>."""
        rest = self.path.split("/v1/sync/", 1)[1]
        return rest if rest.startswith("reference/") else rest.split("/", 1)[0]

    def payload(self) -> bytes:
        body = self.body() if callable(self.body) else self.body
        return body if isinstance(body, bytes) else b"".join(body)


def _names(expected: dict[str, str]) -> Callable[[list[dict[str, Any]]], None]:
    def check(written: list[dict[str, Any]]) -> None:
        assert {d["equipment_id"]: d["name"] for d in written} == expected
    return check


def _big_name(written: list[dict[str, Any]]) -> None:
    big = next(d for d in written if d["equipment_id"] == "INV-BIG")
    assert big["name"] == "A" * (5 * MB)


def _wide(written: list[dict[str, Any]]) -> None:
    (d,) = written
    assert d["equipment_id"] == "INV-1" and not any(k.startswith("extra_") for k in d)


def _numbers(written: list[dict[str, Any]]) -> None:
    (zero, tiny) = written
    assert zero["active_usage_hours_per_week"] == 0 and zero["equipment_id"] == "INV-ZERO"
    assert 0 < tiny["active_usage_hours_per_week"] < 1e-300


def _last_wins(written: list[dict[str, Any]]) -> None:
    (f,) = written
    assert f["equipment_class"] == "Tablet" and f["active_power_w"] == 60


def _sql(written: list[dict[str, Any]]) -> None:
    _names({"INV-1": "'); DROP TABLE data_entries;--",
            "1; DELETE FROM units": "x' OR '1'='1"})(written)
    with session_scope() as s:  # the seeded factor, named by the string, matched literally
        assert s.scalar(text("SELECT count(*) FROM factors WHERE"
                             " classification->>'equipment_class' = :c"), {"c": SQL_CLASS}) == 1


def _unit_names(written: list[dict[str, Any]]) -> None:
    with session_scope() as s:
        names = dict(s.execute(text("SELECT institutional_code, name FROM units WHERE"
                                    " institutional_code IN ('LAB-L', 'LAB-M')")).all())
    assert names == {"LAB-M": CONTROL}


def _routing(written: list[dict[str, Any]]) -> None:
    assert sorted(d["equipment_id"] for d in written) == ["INV-ID", "INV-IT"]


UTF16 = (E_HEADER + entry("INV-1")).encode("utf-16")
assert UTF16.startswith((b"\xff\xfe", b"\xfe\xff"))

CASES: dict[str, Case] = {
    # -- encodings --------------------------------------------------------------------------
    "latin-1": Case(ENTRIES, IT, entries(entry("INV-1", name="Écran")).replace(
        "É".encode(), "É".encode("latin-1")), 400, "invalid byte 0xc9"),
    "UTF-16 with BOM": Case(ENTRIES, IT, UTF16, 400, "NUL bytes"),
    "UTF-8 with BOM (valid)": Case(ENTRIES, IT, b"\xef\xbb\xbf" + entries(
        entry("INV-1"), entry("INV-2")), 202, result="SUCCESS", rows=2),
    "UTF-8 BOM + CRLF, Excel 'CSV UTF-8' (valid)": Case(
        ENTRIES, IT, b"\xef\xbb\xbf" + entries(entry("INV-1"), entry("INV-2"), entry("INV-3"))
        .replace(b"\n", b"\r\n"), 202, result="SUCCESS", rows=3),
    "invalid UTF-8 after 1 MB": Case(ENTRIES, IT, entries(
        *[entry(f"INV-{i}") for i in range(25_000)]) + b"UA,INV-X,\xff\xfe,Laptop,,1,1\n",
        400, "not UTF-8 text (invalid byte 0xff"),
    "NUL byte in a cell": Case(ENTRIES, IT, entries(entry("INV-1", name="Lap\x00top")), 400,
                               "NUL"),
    "BOM only": Case(ENTRIES, IT, b"\xef\xbb\xbf", 400, "empty"),
    "empty": Case(ENTRIES, IT, b"", 400, "empty"),
    "only whitespace": Case(ENTRIES, IT, b"  \t \r\n\n   \n", 400, "empty"),
    "header only (CRLF)": Case(ENTRIES, IT, E_HEADER.replace("\n", "\r\n").encode(), 400,
                               "no data rows"),
    # -- delimiters -------------------------------------------------------------------------
    "semicolon-separated": Case(ENTRIES, IT, entries(entry("INV-1")).replace(b",", b";"), 400,
                                "semicolons"),
    "tab-separated": Case(ENTRIES, IT, entries(entry("INV-1")).replace(b",", b"\t"), 400,
                          "tabs"),
    "pipe-separated": Case(ENTRIES, IT, entries(entry("INV-1")).replace(b",", b"|"), 400,
                           "pipes"),
    "CRLF line endings (valid)": Case(ENTRIES, IT, entries(entry("INV-1"), entry("INV-2"))
                                      .replace(b"\n", b"\r\n"), 202, result="SUCCESS", rows=2),
    # -- sizes ------------------------------------------------------------------------------
    "5 MB cell in a text column": Case(
        ENTRIES, IT, lambda: entries(entry("INV-BIG", name="A" * (5 * MB)), entry("INV-2")),
        202, result="SUCCESS", rows=2, check=_big_name),
    "5 MB cell in a numeric column": Case(
        ENTRIES, IT, lambda: entries(entry("INV-1", act="9" * (5 * MB)), entry("INV-2")),
        202, result="WARNING", errors={2: "active_usage_hours_per_week: '9999"}, rows=1),
    "11 MB cell (over the CSV field limit)": Case(
        ENTRIES, IT, lambda: entries(entry("INV-1", name="B" * (11 * MB)), entry("INV-2")),
        202, result="WARNING", errors={2: "field larger than field limit"}, rows=1),
    # Extra columns are allowed but reported (issue 11 item 7): WARNING, not SUCCESS; the
    # job's meta names the first 50 and counts them all.
    "2 MB line: 200,000 extra columns": Case(
        ENTRIES, IT, lambda: entries(
            E_HEADER.rstrip("\n") + "".join(f",extra_{i}" for i in range(200_000)) + "\n"
            + entry("INV-1").rstrip("\n") + ",x" * 200_000 + "\n", header=""),
        202, result="WARNING", rows=1, check=_wide),
    "1 MB line: a row of 1,000,000 trailing commas": Case(
        ENTRIES, IT, entries(entry("INV-1").rstrip("\n") + "," * MILLION + "\n"),
        202, result="SUCCESS", rows=1),
    "1M-row file over the size limit": Case(
        ENTRIES, IT, lambda: million_rows(over_the_limit()), 413, "larger than the limit"),
    # -- injection strings ------------------------------------------------------------------
    "formula injection": Case(
        ENTRIES, IT, entries(*[entry(f"INV-{i}", name=f) for i, f in enumerate(FORMULAS)],
                             entry(FORMULAS[0], name=FORMULAS[1])),
        202, result="SUCCESS", rows=len(FORMULAS) + 1, check=_names(
            {**{f"INV-{i}": f for i, f in enumerate(FORMULAS)}, FORMULAS[0]: FORMULAS[1]})),
    "SQL injection": Case(
        ENTRIES, IT, entries(entry("INV-1", name="'); DROP TABLE data_entries;--",
                                   cls=SQL_CLASS),
                             entry("1; DELETE FROM units", name="x' OR '1'='1"),
                             entry("INV-3", unit="UA' OR '1'='1")),
        202, result="WARNING", errors={4: "unknown unit \"UA' OR '1'='1\""}, rows=2,
        check=_sql),
    "control characters in names": Case(
        ENTRIES, IT, entries(entry("INV-1", name=CONTROL), entry("INV\t2", name="tab\there")),
        202, result="SUCCESS", rows=2,
        check=_names({"INV-1": CONTROL, "INV\t2": "tab\there"})),
    # -- numbers ----------------------------------------------------------------------------
    "negative values": Case(
        ENTRIES, IT, entries(entry("INV-1", act=-1), entry("INV-2", stb="-0.5"),
                             entry("INV-3")),
        202, result="WARNING", rows=1, errors={
            2: "active_usage_hours_per_week must be at least 0 (got -1)",
            3: "standby_usage_hours_per_week must be at least 0 (got -0.5)"}),
    "NaN / inf / 1e308 / -0 / 1e-310": Case(
        ENTRIES, IT, entries(entry("INV-1", act="NaN"), entry("INV-2", act="inf"),
                             entry("INV-3", stb="-Infinity"), entry("INV-4", act="1e308"),
                             entry("INV-5", act="1e999"), entry("INV-ZERO", act="-0", stb=0),
                             entry("INV-TINY", act="1e-310", stb=0)),
        202, result="WARNING", rows=2, check=_numbers, errors={
            2: "'NaN' is not a number", 3: "'inf' is not a number",
            4: "'-Infinity' is not a number", 5: "must be at most 168 (got 1e+308)",
            6: "'1e999' is too large"}),
    "wrong types (text in numeric columns)": Case(
        ENTRIES, IT, entries(entry("INV-1", act="forty"), entry("INV-2", act="1,5"),
                             entry("INV-3", act="0x10"), entry("INV-4", stb="1_000"),
                             entry("INV-5", act="12h"), entry("INV-6")),
        202, result="WARNING", rows=1, errors={
            2: "'forty' is not a number", 3: "'1,5' is not a number",
            4: "'0x10' is not a number", 5: "'1_000' is not a number",
            6: "'12h' is not a number"}),
    # -- ids, keys, categories --------------------------------------------------------------
    "unknown unit_institutional_id": Case(
        ENTRIES, IT, entries(entry("INV-1", unit="NOPE"), entry("INV-2", unit=""),
                             entry("INV-3", unit="ua")),
        202, result="WARNING", rows=1,
        errors={2: "unknown unit 'NOPE'", 3: "unit_institutional_id is empty"}),
    "only unknown units: nothing usable": Case(
        ENTRIES, IT, entries(entry("INV-1", unit="NOPE"), entry("INV-2", unit="NOPE2")),
        202, result="ERROR", rows=0, errors={2: "NOPE", 3: "NOPE2"}),
    "unknown module path id (9)": Case("/v1/sync/data-entries/9", {"year": YEAR},
                                       entries(entry("INV-1")), 422, "module_type_id"),
    "module path id 0": Case("/v1/sync/data-entries/0", {"year": YEAR},
                             entries(entry("INV-1")), 422, "module_type_id"),
    "module path id not a number": Case("/v1/sync/data-entries/equipment", {"year": YEAR},
                                        entries(entry("INV-1")), 422, "module_type_id"),
    "unknown data_entry_type_id (999)": Case(ENTRIES, {"year": YEAR, "data_entry_type_id": 999},
                                             entries(entry("INV-1")), 422,
                                             "data_entry_type_id"),
    "data_entry_type_id of another module (plane)": Case(
        ENTRIES, {"year": YEAR, "data_entry_type_id": 20}, entries(entry("INV-1")), 422,
        "does not belong to module 4"),
    "year far out of range": Case(ENTRIES, {"year": "99999999999999999999",
                                            "data_entry_type_id": 11},
                                  entries(entry("INV-1")), 422, "year"),
    "year without units (2030)": Case(ENTRIES, {"year": 2030, "data_entry_type_id": 11},
                                      entries(entry("INV-1")), 409, "upload the units for 2030"),
    "unknown or foreign data_entry_type in the routing column": Case(
        ENTRIES, {"year": YEAR}, entries(
            line("UA", "INV-IT", "x", "Laptop", "Standard", 40, 128, "it"),
            line("UA", "INV-ID", "x", "Laptop", "Standard", 40, 128, "11"),
            line("UA", "INV-X", "x", "Laptop", "Standard", 40, 128, "spaceship"),
            line("UA", "INV-P", "x", "Laptop", "Standard", 40, 128, "plane"),
            header=line(*ENTRY_COLS, "data_entry_type")),
        202, result="WARNING", rows=2, check=_routing, errors={
            4: "'spaceship' is not a data entry type of module equipment",
            5: "'plane' is not a data entry type of module equipment"}),
    "unknown enum value (process emission category)": Case(
        "/v1/sync/data-entries/8", {"year": YEAR}, (
            b"unit_institutional_id,category,subcategory,unit,quantity\n"
            b"UA,co2,,kg,10\nUA,plutonium,,kg,10\nUB,CO2,,kg,5\n"),
        202, result="WARNING", rows=2, errors={3: "category: 'plutonium' is not one of"}),
    "duplicate header columns (differing in case)": Case(
        ENTRIES, IT, entries(entry("INV-1").rstrip("\n") + ",dup\n",
                             header=E_HEADER.rstrip("\n") + ",NAME\n"),
        400, "duplicate column(s) in the header: name"),
    "same factor twice in one file: last wins, one row, the other reported": Case(
        FACTORS, IT_MERGE, (F_HEADER + line("Tablet", "Standard", 50, 5, 0.2)
                      + line(" Tablet ", "Standard ", 60, 6, 0.3)).encode(),
        202, result="WARNING", rows=1, check=_last_wins,
        errors={2: "duplicate of row 3, whose values were kept"}),
    "short rows (missing cells)": Case(
        ENTRIES, IT, entries("UA,INV-1,Laptop\n", entry("INV-2")),
        202, result="WARNING", rows=1, errors={2: "equipment_class is required"}),
    # -- quoting ----------------------------------------------------------------------------
    "quoted multiline cells (valid), row numbers count records": Case(
        ENTRIES, IT, entries(entry("INV-1", name="line 1\nline 2\r\nline 3"),
                             entry("INV-2", act="x"), entry("INV-3")),
        202, result="WARNING", rows=2, errors={3: "'x' is not a number"},
        check=_names({"INV-1": "line 1\nline 2\r\nline 3", "INV-3": "Laptop"})),
    "unterminated quote": Case(
        ENTRIES, IT, entries(entry("INV-1"), 'UA,INV-2,"never closed,Laptop,Standard,40,128\n',
                             entry("INV-3"), entry("INV-4")),
        202, result="WARNING", rows=1, errors={3: "a quoted cell is never closed"}),
    "text after a closing quote": Case(
        ENTRIES, IT, entries(entry("INV-1"), 'UA,INV-2,"Laptop"X,Laptop,Standard,40,128\n',
                             entry("INV-3")),
        202, result="WARNING", rows=2, errors={3: "malformed CSV row"}),
    # -- units and reference data: values longer than their columns, duplicate keys --------
    "unit name longer than its column": Case(
        UNITS, {"year": YEAR}, ("institutional_code,institutional_id,name,level\n"
                                f"LAB-L,UL,{'n' * 300},4\nLAB-M,UM,{CONTROL},4\n").encode(),
        202, result="WARNING", rows=1, errors={2: "name: String should have at most 255"},
        check=_unit_names),
    "unit institutional_id given twice": Case(
        UNITS, {"year": YEAR}, (b"institutional_code,institutional_id,name,level\n"
                                b"LAB-D1,UD,first,4\nLAB-D2,UD,second,4\nLAB-D3,UA,third,4\n"
                                b"LAB-D4,UE,bad level,4.5\n"),
        202, result="WARNING", rows=1, errors={
            3: "institutional_id 'UD' is also given to unit 'LAB-D1'",
            4: "institutional_id 'UA' already belongs to unit 'LAB-A'",
            5: "level: Input should be a valid integer"}),
    "room type longer than its column": Case(
        "/v1/sync/reference/building-rooms", {},
        ("building_name,room_name,room_type,room_surface_square_meter\n"
         f"B1,R1,{'t' * 100},10\nB1,R2,{SQL_CLASS},5\nB1,R3,office,NaN\n").encode(),
        202, result="WARNING", rows=1, errors={2: "room_type: should have at most 64",
                                               4: "'NaN' is not a number"}),
    "exchange rates: 0, negative, NaN, 1e308": Case(
        "/v1/sync/reference/exchange-rates", {},
        b"year,currency,rate_to_eur\n2025,USD,0\n2025,GBP,-1\n2025,JPY,nan\n2025,CHF,1e308\n"
        b"2025,EU R,1\n2025,SEK,0.09\n",
        202, result="WARNING", rows=1, errors={
            2: "greater than 0", 3: "greater than 0", 4: "'nan' is not a number",
            5: "rate_to_eur must be between 1e-6 and 1e6 EUR per unit (got '1e308')",
            6: "'EU R' is not one of eur, chf"}),
    # -- the multipart envelope -------------------------------------------------------------
    "two file parts": Case(ENTRIES, IT, b"", 400, "Too many files", files=[
        ("file", ("a.csv", entries(entry("INV-1")), "text/csv")),
        ("file", ("b.csv", entries(entry("INV-2")), "text/csv"))]),
    "2 MB text field instead of a file": Case(ENTRIES, IT, b"", 400, "maximum size", files=[
        ("file", (None, b"x" * (2 * MB)))]),
}


def _post(env: Env, case: Case) -> httpx.Response:
    if case.files is not None:
        return env.client.post(case.path, params=case.params, headers=env.tokens.op,
                               files=case.files)
    return upload(env.client, case.path, case.payload(), env.tokens.op, **case.params)


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_hostile_input(env: Env, name: str) -> None:
    case = CASES[name]
    dets = module_dets(case.path, case.params) if case.kind == "data-entries" \
        and case.status == 202 else []
    replaced, replaced_emissions = csv_entries(dets) if dets else (0, 0)
    before = counts()

    r = _post(env, case)
    assert r.status_code < 500, r.text
    assert r.status_code == case.status, r.text[:500]
    if case.status != 202:
        assert case.detail.lower() in r.text.lower(), r.text[:500]
        assert counts() == before  # nothing at all
        return

    acc = r.json()
    job = wait_job(env.client, acc["job_id"], env.tokens.op, timeout=60)
    pipeline = wait_pipeline(env.client, acc["pipeline_id"], env.tokens.op, timeout=90)
    assert job["result"] == case.result, job["status_message"]
    got = {e["row"]: e["reason"] for e in job["meta"]["row_errors"]}
    assert set(got) == set(case.errors), got
    for row, fragment in case.errors.items():
        assert fragment in got[row], (row, got[row])
    assert job["meta"]["skipped"] == len(case.errors)
    if case.result == "ERROR":
        assert job["status_message"].startswith("ERROR: no usable rows"), job
        assert pipeline["status"] == "FAILED", pipeline  # an upload with nothing usable
    else:
        assert pipeline["status"] in ("SUCCESS", "WARNING"), pipeline

    after = counts()
    delta = {t: after[t] - before[t] for t in TABLES}
    with session_scope() as s:
        pipeline_jobs, pipeline_chunks = s.execute(text(
            "SELECT count(DISTINCT j.id), count(c.job_id) FROM data_ingestion_jobs j"
            " LEFT JOIN recalc_chunks c ON c.job_id = j.id WHERE j.pipeline_id = :p"),
            {"p": acc["pipeline_id"]}).one()
        # Links (migration 0009) may only belong to this pipeline and its jobs.
        links = s.execute(text(
            "SELECT (SELECT count(*) FROM job_links WHERE job_id IN (SELECT id FROM"
            "   data_ingestion_jobs WHERE pipeline_id = :p)),"
            " (SELECT count(*) FROM pipeline_job_links WHERE pipeline_id = :p),"
            " (SELECT count(*) FROM pipeline_awaited_aggregations WHERE pipeline_id = :p)"),
            {"p": acc["pipeline_id"]}).one()
    expected = {t: 0 for t in TABLES}
    expected.update(uploaded_files=1, pipelines=1, data_ingestion_jobs=pipeline_jobs,
                    recalc_chunks=pipeline_chunks, job_links=links[0],
                    pipeline_job_links=links[1], pipeline_awaited_aggregations=links[2])
    written = rows_of_job(case.kind, acc["job_id"])
    if case.kind == "data-entries":
        assert len(written) == case.rows
        emitted = case.rows if case.emissions is None else case.emissions
        assert emissions_of_job(acc["job_id"]) == emitted
        if case.rows:
            expected["data_entries"] = case.rows - replaced
            expected["data_entry_emissions"] = emitted - replaced_emissions
        else:
            assert pipeline_jobs == 1  # nothing to recalculate
    elif case.kind == "factors":
        assert len(written) == case.rows
        expected["factors"] = case.rows
        # The accepted upload writes the history of exactly the factors it inserted: one
        # "inserted" row each, tagged with its job.
        with session_scope() as s:
            history = s.execute(text(
                "SELECT h.change, f.last_seen_job_id FROM factor_history h"
                " JOIN factors f ON f.id = h.factor_id WHERE h.job_id = :j"),
                {"j": acc["job_id"]}).all()
        assert sorted(history) == [("inserted", acc["job_id"])] * case.rows
        expected["factor_history"] = case.rows
    elif case.kind == "units":
        expected.update(units=case.rows, carbon_reports=case.rows,
                        carbon_report_modules=8 * case.rows)
    else:
        expected[UPLOAD_KIND_TABLE[case.kind]] = case.rows
    assert delta == expected
    _derived_sums_agree_with_rows()
    if case.check is not None:
        case.check(written)


def _derived_sums_agree_with_rows() -> None:
    """The folded slice sums give exactly the module totals the rows give."""
    from carbon_domain.services.recalc import slice_sums
    from carbon_domain.services.recalc.aggregate import _kg_and_missing

    with session_scope() as s:
        folded = slice_sums.module_totals(s, 4, YEAR)
        kg, missing = _kg_and_missing(s, YEAR, [10, 11, 12])
        s.rollback()
    assert folded is not None
    assert folded.missing == missing
    assert folded.kg.keys() == kg.keys()
    for mid, by_type in kg.items():
        assert folded.kg[mid].keys() == by_type.keys()
        for et, v in by_type.items():
            assert abs(folded.kg[mid][et] - v) <= 1e-9 * max(1.0, abs(v)), (mid, et)


def test_the_corpus_is_big_enough_and_every_table_is_watched() -> None:
    from carbon_domain.db.models import Base
    assert len(CASES) >= 25
    assert {c.status for c in CASES.values()} >= {202, 400, 409, 413, 422}
    assert set(TABLES) | set(DERIVED) == {t.name for t in Base.metadata.sorted_tables}


# -- values whose product would overflow ---------------------------------------------------

def test_a_factor_of_1e308_is_refused_at_upload_not_overflowed_at_recalculation(env: Env
                                                                              ) -> None:
    """1e308 is a finite number but far beyond a factor value's limit (1e12,
    carbon_domain/numbers.py): the row is refused with its reason and nothing is stored, so
    no product can overflow. Before the limits it was stored and its entries' kg overflowed
    at recalculation (an entry error there, never inf in a row or a total)."""
    c, op = env.client, env.tokens.op
    r = upload(c, FACTORS, F_HEADER + line("Overflow", "Standard", "1e308", "1e308", "1e308"),
               op, **IT_MERGE)
    job = wait_job(c, r.json()["job_id"], op)
    assert job["result"] == "ERROR", job["status_message"]  # its one row is refused
    assert job["meta"]["row_errors"] == [
        {"row": 2, "reason": "active_power_w must be at most 1e12 (got '1e308')"}]
    r = upload(c, ENTRIES, entries(entry("INV-OVER", cls="Overflow"), entry("INV-OK")), op, **IT)
    assert r.status_code == 202, r.text
    p = wait_pipeline(c, r.json()["pipeline_id"], op, timeout=60)
    recalc = [j for j in p["jobs"] if j["job_type"] == "emission_recalc"]
    assert "0 errors" in recalc[0]["status_message"], recalc
    with session_scope() as s:
        assert s.scalar(text("SELECT count(*) FROM data_entry_emissions WHERE kg_co2eq IN"
                             " ('Infinity', '-Infinity', 'NaN')")) == 0
    assert emissions_of_job(r.json()["job_id"]) == 1  # INV-OK only: Overflow has no factor
    reports = c.get("/v1/reports", params={"year": YEAR}, headers=op)
    assert reports.status_code == 200
    for report in reports.json()["items"]:
        assert math.isfinite((report["stats"] or {}).get("total", 0.0))
        stats = c.get(f"/v1/reports/{report['id']}/modules/4/stats", headers=op)
        assert stats.status_code == 200, stats.text


# -- a 1M-row file against a real server ----------------------------------------------------

def _rss_kb(pid: int, field_name: str) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith(field_name + ":"):
            return int(row.split()[1])
    raise AssertionError(f"{field_name} not in /proc/{pid}/status")


def _send_chunked(url: str, params: dict[str, Any], headers: dict[str, str],
                  body: Iterator[bytes]) -> httpx.Response | None:
    """POST a multipart body with no Content-Length. None when the server closed the
    connection after answering early (the answer is then read from the log)."""
    boundary = "hostile-million"

    def stream() -> Iterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"million.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()
        yield from body
        yield f"\r\n--{boundary}--\r\n".encode()
    try:
        return httpx.post(url, params=params, content=stream(), timeout=120, headers={
            **headers, "content-type": f"multipart/form-data; boundary={boundary}"})
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        return None


def test_million_rows_over_the_limit_do_not_take_a_real_server_down(
        env: Env, tmp_path: Path) -> None:
    """The 1M-row file, streamed without a Content-Length to ``carbon api``: the server
    stops reading at the limit (413), its memory does not grow by anything near the file's
    size, it keeps answering, and nothing is written."""
    port, log = free_port(), tmp_path / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*carbon_argv(), "api", "--port", str(port)],
                                env=child_env(CARBON_LOG_LEVEL="WARNING"), stdout=out,
                                stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/v1/health", proc, log)
        op = env.tokens.op
        assert httpx.get(f"{base}/v1/catalog/modules", headers=op).status_code == 200
        before, rss_before = counts(), _rss_kb(proc.pid, "VmRSS")
        size = over_the_limit()
        started = time.monotonic()
        r = _send_chunked(f"{base}{ENTRIES}", IT, op, million_rows(size))
        elapsed = time.monotonic() - started
        if r is not None:
            assert r.status_code == 413, r.text
        peak_growth = _rss_kb(proc.pid, "VmHWM") - rss_before
        # The body is spooled to disk past 1 MB and refused at the limit: far from 50 MB.
        assert peak_growth * 1024 < size // 4, f"server grew by {peak_growth} KiB"
        assert proc.poll() is None
        health = httpx.get(f"{base}/v1/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert httpx.get(f"{base}/v1/catalog/modules", headers=op).status_code == 200
        assert counts() == before
        print(f"1M rows, {size} bytes streamed: {r.status_code if r else 'closed'} in "
              f"{elapsed:.1f}s, server peak RSS +{peak_growth} KiB")
    finally:
        stop(proc)
    assert b"Traceback" not in log.read_bytes()


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CARBON_SLOW_TESTS") != "1",
                    reason="set CARBON_SLOW_TESTS=1: parses 1M rows (minutes)")
def test_million_rows_under_the_limit_are_all_loaded(env: Env,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1M-row file that fits the limit is accepted and loaded whole, with exact counts."""
    monkeypatch.setattr(get_settings(), "chunk_size", 50_000)
    size = get_settings().max_upload_bytes - MB
    body = b"".join(million_rows(size))
    assert len(body) <= get_settings().max_upload_bytes
    started = time.monotonic()
    r = upload(env.client, ENTRIES, body, env.tokens.op, **IT)
    assert r.status_code == 202, r.text
    job = wait_job(env.client, r.json()["job_id"], env.tokens.op, timeout=900)
    ingested = time.monotonic() - started
    assert job["result"] == "SUCCESS", job["status_message"]
    assert job["meta"]["rows"] == job["meta"]["processed"] == MILLION
    p = wait_pipeline(env.client, r.json()["pipeline_id"], env.tokens.op, timeout=900)
    assert p["status"] == "SUCCESS", p
    print(f"1M rows, {len(body)} bytes accepted: ingested in {ingested:.0f}s, pipeline done"
          f" in {time.monotonic() - started:.0f}s")
    assert emissions_of_job(r.json()["job_id"]) == MILLION
    with session_scope() as s:
        assert s.scalar(text("SELECT count(*) FROM data_entries WHERE created_by_job_id = :j"),
                        {"j": r.json()["job_id"]}) == MILLION
