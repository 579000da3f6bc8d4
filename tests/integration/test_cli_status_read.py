"""`carbon status` reads what it shows and nothing more: the incomplete flags are computed
without the airport table (no flag reads it; loading it cost the status read ~0.35 s), and
`carbon status --json` prints without loading Rich (~45 modules a JSON answer never needs).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import asdict
from typing import Any

import pytest

from carbon_domain import reference
from carbon_domain.db.enums import JobType
from carbon_domain.db.session import session_scope
from carbon_domain.services.reads.completeness import clear_cache
from carbon_domain.services.reads.status import year_status

from .helpers import UNITS_CSV
from .test_ops_cli import child_env
from .test_status_console import YEAR, _entry, add_job, type_of, upload

pytestmark = pytest.mark.integration


def test_incomplete_flags_without_the_airport_table(db: str, worker: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The same reasons as the computation's reference data gives (defaults merged with
    uploads), read without loading ``airportsdata`` in this thread (the in-process worker
    may load it for its own work)."""
    here, loads = threading.current_thread(), []
    real = reference.load_airports

    def spy() -> dict[str, reference.Point]:
        if threading.current_thread() is here:
            loads.append(1)
        return real()

    monkeypatch.setattr(reference, "load_airports", spy)
    upload("units", UNITS_CSV, year=YEAR)
    for module, det in ((3, 30), (2, 21), (5, 60)):
        add_job(JobType.csv_ingest, module, det)
    _entry(30, 3, {"building_name": "ZZ", "room_name": "ZZ 999", "room_allocation_ratio": 1})
    _entry(21, 2, {"origin_name": "Nowhereville", "destination_name": "Bern"})
    _entry(21, 2, {"origin_name": "Geneva", "destination_name": "Bern"})
    _entry(60, 5, {"currency": "XYZ", "total_spent_amount": 10})
    _entry(60, 5, {"currency": "usd", "total_spent_amount": 10})
    clear_cache()
    assert type_of(3, 30).incomplete_reasons[1:] == [
        "building rooms missing from the reference: ZZ/ZZ 999 (1 entry without a surface of "
        "their own)"]
    assert type_of(2, 21).incomplete_reasons[1:] == [
        "stations missing from the reference: Nowhereville (1 entry)"]
    assert type_of(5, 60).incomplete_reasons[1:] == [
        "exchange rates missing: no rate to EUR for XYZ (1 entry)"]
    assert loads == []
    # The computation's own reference data agrees with each flag.
    from carbon_domain.services.inputs.slices import load_reference_data

    with session_scope() as s:
        refs = load_reference_data(s)
    assert refs.room_surface("ZZ", "ZZ 999") is None and refs.station("Nowhereville") is None
    assert refs.station("Geneva") is not None and refs.rate_to_eur(YEAR, "usd") is not None
    assert refs.rate_to_eur(YEAR, "xyz") is None


_STATUS = r"""
import atexit, sys
atexit.register(lambda: print("RICH", any(m.split(".")[0] == "rich" for m in sys.modules),
                              file=sys.stderr))
from carbon_api.cli import app
sys.argv = ["carbon", *sys.argv[1:]]
app()
"""


def test_status_json_prints_without_rich(db: str, worker: Any) -> None:
    upload("units", UNITS_CSV, year=YEAR)
    add_job(JobType.csv_ingest, 2, 21)
    _entry(21, 2, {"origin_name": "Geneva", "destination_name": "Bern"})
    proc = subprocess.run([sys.executable, "-c", _STATUS, "status", "-y", str(YEAR), "--json"],
                          capture_output=True, text=True, timeout=120, env=child_env())
    assert proc.returncode == 0, proc.stderr
    assert "RICH False" in proc.stderr.splitlines()
    with session_scope() as s:
        expected = [asdict(m) for m in year_status(s, YEAR)]

    def shown(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(t["data_entry_type_id"], t["state"], t["needs_recalculation"],
                 t["stale_reason"], t["incomplete_reasons"], t["last_input_job_id"])
                for m in rows for t in m["data_entry_types"]]

    assert shown(json.loads(proc.stdout)) == shown(expected) != []
