"""Shared by the console tests (tests/console) and the browser tests (tests/browser): a real
uvicorn server running the app in a thread, sign-in over HTTP, equipment seed data loaded
through the real pipeline, and a row lock that holds one recalculation chunk mid-transaction.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from carbon_domain.db.models import DataEntry
from carbon_domain.db.session import session_scope
from carbon_domain.settings import get_settings
from carbon_tasks import operations as ops

YEAR = 2025
EQUIPMENT = 4
SCIENTIFIC, IT, OTHER = 10, 11, 12
UNITS_CSV = ("institutional_code,institutional_id,name,level,parent_institutional_code\n"
             "LAB-A,UA,Lab A,4,\nLAB-B,UB,Lab B,4,\n")
F_HEADER = "equipment_class,sub_class,active_power_w,standby_power_w,ef_kg_co2eq_per_kwh\n"
E_HEADER = ("unit_institutional_id,equipment_id,name,equipment_class,sub_class,"
            "active_usage_hours_per_week,standby_usage_hours_per_week\n")
FACTORS = {SCIENTIFIC: "Centrifuge,,500,50,0.1\n", IT: "Laptop,Standard,100,10,0.1\n",
           OTHER: "Printer,,200,20,0.1\n"}
ENTRY = {SCIENTIFIC: "Centrifuge,Centrifuge,", IT: "Laptop,Laptop,Standard",
         OTHER: "Printer,Printer,"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server() -> Iterator[str]:
    """The real app on uvicorn in a thread; yields its base URL."""
    import uvicorn

    from carbon_api.app import app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign_in(client: httpx.Client | Any, token: str) -> str:
    """Sign a client in through the form; returns the session's CSRF token."""
    r = client.get("/login")
    nonce = re.search(r'name="login_csrf" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"token": token, "login_csrf": nonce},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client)


def csrf_of(client: httpx.Client | Any) -> str:
    r = client.get(f"/console/data/{YEAR}")
    assert r.status_code == 200, r.text
    return re.search(r'"X-CSRF-Token": "([^"]+)"', r.text).group(1)  # type: ignore[union-attr]


def wait_pipeline(pipeline_id: str, timeout: float = 60.0) -> str:
    import uuid

    from carbon_domain.db.models import Pipeline
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as s:
            p = s.get(Pipeline, uuid.UUID(pipeline_id))
            if p is not None and p.status != "RUNNING":
                return p.status
        assert time.monotonic() < deadline, f"pipeline {pipeline_id} still running"
        time.sleep(0.05)


def run(acc: ops.Accepted) -> str:
    assert acc.pipeline_id
    return wait_pipeline(acc.pipeline_id)


def seed_equipment(entries_per_type: int = 120, types: tuple[int, ...] = (SCIENTIFIC, IT)
                   ) -> None:
    """Units, factors and entries of the equipment module for YEAR, all fresh."""
    assert run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR,
                                created_by="seed")) == "SUCCESS"
    for det in types:
        assert run(ops.start_upload("factors", (F_HEADER + FACTORS[det]).encode(),
                                    module=EQUIPMENT, det=det, year=YEAR,
                                    created_by="seed")) == "SUCCESS"
        rows = "".join(f"U{'AB'[i % 2]},E{det}-{i},{ENTRY[det]},{10 + i % 5},20\n"
                       for i in range(entries_per_type))
        assert run(ops.start_upload("data-entries", (E_HEADER + rows).encode(),
                                    module=EQUIPMENT, det=det, year=YEAR,
                                    created_by="seed")) == "SUCCESS"


def last_entry_id(det: int) -> int:
    with session_scope() as s:
        return int(s.scalar(select(DataEntry.id).where(DataEntry.data_entry_type_id == det)
                            .order_by(DataEntry.id.desc()).limit(1)))


class EntryLock:
    """Hold ``FOR UPDATE`` on one data entry: the chunk that rewrites its emission rows blocks
    in its foreign-key check until :meth:`release` — a recalculation held mid-flight."""

    def __init__(self, entry_id: int) -> None:
        self.entry_id = entry_id
        self.conn: Any = None

    def __enter__(self) -> EntryLock:
        engine = create_engine(get_settings().database_url, poolclass=NullPool)
        self.conn = engine.connect()
        self.tx = self.conn.begin()
        got = self.conn.execute(text("SELECT id FROM data_entries WHERE id = :i FOR UPDATE"),
                                {"i": self.entry_id}).scalar()
        assert got == self.entry_id
        return self

    def release(self) -> None:
        if self.conn is not None:
            self.tx.rollback()
            self.conn.close()
            self.conn = None

    def __exit__(self, *exc: Any) -> None:
        self.release()
