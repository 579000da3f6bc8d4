"""The one display state of each type on the module card, in a real browser: a failed run
reads "last run failed" with where it stopped and a Retry button (never "up to date"), a
formula version bump reads "needs recalculation" with its reason, and while a recalculation
runs the card links to it and shows the same progress as its pipeline card."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import IngestionMethod, JobType, TargetType
from carbon_domain.db.models import RecalcChunk
from carbon_domain.db.session import session_scope
from carbon_domain.formula_versions import formula_versions
from carbon_domain.services.jobs import jobs as job_service
from tests.console.support import (
    EQUIPMENT,
    IT,
    SCIENTIFIC,
    YEAR,
    EntryLock,
    last_entry_id,
    seed_equipment,
)

from .conftest import Console

pytestmark = pytest.mark.integration


def _failed_run() -> int:
    """A recalculation of IT that failed after one of its two chunks (as the finisher
    closes one whose chunk never completed)."""
    with session_scope() as s:
        job = job_service.create_job(
            s, pipeline_id=None, job_type=JobType.emission_recalc,
            target_type=TargetType.DATA_ENTRIES, ingestion_method=IngestionMethod.computed,
            module_type_id=EQUIPMENT, data_entry_type_id=IT, year=YEAR, created_by="bob")
        job.state, job.result, job.finished_at = "FINISHED", "ERROR", utcnow()
        job.status_message = "ERROR: 1 of 2 chunks of it did not complete"
        s.flush()
        s.add_all(RecalcChunk(job_id=job.id, chunk_no=n, lo_id=n, hi_id=n, planned_entries=1,
                              done=n == 0) for n in range(2))
        return int(job.id)


def test_a_failed_run_reads_failed_with_retry_not_up_to_date(
        console: Console, tokens: dict[str, str]) -> None:
    seed_equipment(entries_per_type=20)
    failed = _failed_run()
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    row = page.locator(f"#type-{IT}")
    expect(row).to_have_attribute("data-state", "failed")
    expect(row.locator("[data-state-badge]")).to_have_text("✗ last run failed")
    expect(row).to_contain_text(
        f"recalculation #{failed} failed at chunk 2/2 — numbers partly rewritten")
    expect(row).not_to_contain_text("✓ up to date")  # its export link: "not up to date"
    expect(row.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.locator("#module-4-status [data-module-state]")).to_have_text("✗ 1 type failed")
    expect(page.locator("#open-recalc-4")).to_have_text("Retry Equipment…")
    expect(page.locator(f"#type-{SCIENTIFIC}")).to_have_attribute("data-state", "up_to_date")
    c.shot("failed")
    row.get_by_role("button", name="Retry").click()
    expect(page.locator(f"#type-{IT}")).to_have_attribute("data-state", "up_to_date",
                                                          timeout=30_000)
    expect(page.locator("#open-recalc-4")).to_have_text("Recalculate Equipment…")


def test_a_formula_bump_reads_needs_recalculation_and_progress_agrees(
        console: Console, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    seed_equipment(entries_per_type=150)  # 4 chunks per type
    monkeypatch.setitem(formula_versions, IT, "2026.12-1")
    c, page = console, console.page
    c.sign_in(tokens["operator"])
    c.data()
    row = page.locator(f"#type-{IT}")
    expect(row).to_have_attribute("data-state", "needs_recalculation")
    expect(row.locator("[data-reason]")).to_have_text(
        "formula for IT changed (2026.11-1 → 2026.12-1)")
    expect(page.locator(f"#type-{SCIENTIFIC}")).to_have_attribute("data-state", "up_to_date")
    c.shot("formula")
    with EntryLock(last_entry_id(IT)) as lock:
        page.locator("#open-recalc-4").click()
        dialog = page.locator("#recalc-dialog")
        expect(dialog.locator(f'input[name=det][value="{IT}"]')).to_be_checked()
        expect(dialog.locator(f'input[name=det][value="{SCIENTIFIC}"]')).not_to_be_checked()
        expect(dialog).to_contain_text("formula for IT changed (2026.11-1 → 2026.12-1)")
        dialog.get_by_role("button", name="Start recalculation").click()
        card = page.locator(f"#live-{EQUIPMENT} .pipeline-card[data-status]").first
        expect(card).to_have_attribute("data-status", "RUNNING")
        # The card's recalculate control now links to the run and shows its progress, the
        # very text of the pipeline card's chunk chip.
        link = page.locator("#module-4-status a.running-link").first
        expect(link).to_have_attribute(
            "href", re.compile(r"/console/pipelines\?focus=[0-9a-f-]{36}"))
        expect(page.locator(f"#type-{IT}")).to_have_attribute("data-state", "recalculating")
        expect(page.locator("#module-4-status [data-module-state]")).to_have_text(
            "⟳ 1 type recalculating")
        expect(page.locator("#module-4-status .module-head")).not_to_contain_text("up to date")
        expect(page.locator(f"#type-{IT}")).not_to_contain_text("✓ up to date")
        # Chunks 1-3 finish; the held chunk (it has the locked entry) stops the count at 3/4:
        # there both say so. (Read while chunks were still finishing, the two texts were one
        # refresh apart: 1/4 on the card, 3/4 on the link.)
        expect(link).to_contain_text("chunks 3/4")
        expect(card.locator(".phases")).to_contain_text("chunks 3/4")
        chip = card.locator(".phases").inner_text()
        shown = link.inner_text()
        assert re.search(r"chunks \d/4", shown).group(0) in chip, (shown, chip)  # type: ignore[union-attr]
        c.shot("running")
        lock.release()
        expect(card).to_have_attribute("data-status", "SUCCESS", timeout=60_000)
    expect(page.locator(f"#type-{IT}")).to_have_attribute("data-state", "up_to_date")
    expect(page.locator("#module-4-status [data-module-state]")).to_have_text("✓ up to date")
