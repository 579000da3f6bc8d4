"""The recalculation dialog says how many entries the run will really recalculate.

It gave a type's full entry count ("100 entries to recalculate") while "Only stale types"
plans each stale type incrementally and, after one changed factor, rewrote only the entries
linked to it (10 of 100 here); when a change touches most entries the planner runs the
whole slice, and the dialog now says so with the planner's reason. The figure comes from
the planner itself (services/reads/recalc_scope.py asks services/recalc/affected.plan_scope);
"All types" and "Only the checked types" ask for a full run and show every entry. Each
figure is checked against what the run that follows recalculated (its job's planned total
and recorded scope).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from carbon_domain.db.enums import JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.session import session_scope
from carbon_tasks import operations as ops
from tests.console.support import (
    E_HEADER,
    EQUIPMENT,
    F_HEADER,
    IT,
    UNITS_CSV,
    YEAR,
    run,
    wait_pipeline,
)

from .conftest import Console

pytestmark = pytest.mark.integration
ENTRIES, DESKTOPS = 100, 10


def factors(desktop_w: int, laptop_w: int = 100) -> bytes:
    return (F_HEADER + f"Laptop,Standard,{laptop_w},10,0.1\n"
            f"Desktop,Standard,{desktop_w},20,0.1\nServer,Standard,400,100,0.1\n").encode()


def entries() -> bytes:
    """90 laptops and 10 desktops (every tenth entry)."""
    rows = "".join(f"U{'AB'[i % 2]},E{i},{kind},{kind},Standard,{10 + i % 5},20\n"
                   for i in range(ENTRIES)
                   for kind in ("Desktop" if i % 10 == 0 else "Laptop",))
    return (E_HEADER + rows).encode()


def upload(kind: str, content: bytes) -> None:
    assert run(ops.start_upload(kind, content, module=EQUIPMENT, det=IT, year=YEAR,
                                created_by="seed")) == "SUCCESS"


def last_it_run() -> tuple[int, dict[str, Any]]:
    """The last IT recalculation: (entries it planned, the scope it recorded)."""
    with session_scope() as s:
        job = s.scalars(select(Job).where(Job.job_type == JobType.emission_recalc,
                                          Job.data_entry_type_id == IT)
                        .order_by(Job.id.desc()).limit(1)).one()
        return int(job.progress_total or 0), dict(job.meta["config"]["scope"])


def open_dialog(c: Console) -> Any:
    c.data()
    c.page.locator(f"#open-recalc-{EQUIPMENT}").click()
    dialog = c.page.locator("#recalc-dialog")
    expect(dialog).to_be_visible()
    return dialog


def type_line(c: Console, dialog: Any) -> Any:
    """IT's line in the dialog: its checkbox's label."""
    return dialog.locator("label").filter(has=c.page.locator(f'input[name="det"][value="{IT}"]'))


def start_and_wait(c: Console, dialog: Any) -> None:
    with session_scope() as s:
        before = s.scalar(select(Job.id).order_by(Job.id.desc()).limit(1))
    dialog.get_by_role("button", name="Start recalculation").click()
    expect(dialog).to_be_hidden()
    with session_scope() as s:
        root = s.scalars(select(Job).where(Job.id > before,
                                           Job.job_type == JobType.module_emission_recalc)
                         .order_by(Job.id).limit(1)).one()
        pid = str(root.pipeline_id)
    assert wait_pipeline(pid) == "SUCCESS"


def test_the_dialog_says_what_only_stale_and_a_full_run_recalculate(
        console: Console, tokens: dict[str, str], server: str) -> None:
    assert run(ops.start_upload("units", UNITS_CSV.encode(), year=YEAR,
                                created_by="seed")) == "SUCCESS"
    upload("factors", factors(200))
    upload("data-entries", entries())  # recalculated by its pipeline
    upload("factors", factors(250))  # one factor changed: the desktops' rows change
    c = console
    c.sign_in(tokens["operator"])

    dialog = open_dialog(c)
    scope = type_line(c, dialog)
    expect(dialog.get_by_label("Only stale types")).to_be_checked()
    expect(scope).to_contain_text(
        f"IT — {DESKTOPS} of {ENTRIES} entries to recalculate: only those the change affects"
        " (1 factor changed)")
    dialog.get_by_label("All types").check()
    expect(scope).to_contain_text(f"IT — {ENTRIES} entries to recalculate (all of them)")
    dialog.get_by_label("Only the checked types").check()
    expect(scope).to_contain_text(f"IT — {ENTRIES} entries to recalculate (all of them)")
    dialog.get_by_label("Only stale types").check()
    expect(scope).to_contain_text(f"{DESKTOPS} of {ENTRIES} entries")
    c.shot("incremental")
    # The API's preview is the same read.
    r = httpx.get(f"{server}/v1/sync/recalculation-preview/{EQUIPMENT}", params={"year": YEAR},
                  headers={"Authorization": f"Bearer {tokens['viewer']}"}, timeout=30)
    it = next(t for t in r.json()["data_entry_types"] if t["data_entry_type_id"] == IT)
    assert (it["entries_to_recalculate"], it["entry_count"], it["incremental"]) == (
        DESKTOPS, ENTRIES, True)
    start_and_wait(c, dialog)
    planned, recorded = last_it_run()
    assert (planned, recorded["incremental"], recorded["entries"]) == (DESKTOPS, True, DESKTOPS)

    # The laptops' factor changes 90 of the 100 entries: the planner runs the whole slice,
    # and the dialog says every entry, with the planner's reason.
    upload("factors", factors(250, laptop_w=120))
    dialog = open_dialog(c)
    scope = type_line(c, dialog)
    expect(dialog.get_by_label("Only stale types")).to_be_checked()
    expect(scope).to_contain_text(
        f"IT — {ENTRIES} entries to recalculate (all of them: 1 factor changed; "
        f"{ENTRIES - DESKTOPS} of {ENTRIES} entries affected)")
    c.shot("full")
    start_and_wait(c, dialog)
    planned, recorded = last_it_run()
    assert (planned, recorded["incremental"]) == (ENTRIES, False)
