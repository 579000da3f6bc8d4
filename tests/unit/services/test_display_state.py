"""The display state decision on its own: every combination of facts gives exactly one state,
in the documented precedence, with the text an operator reads."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from carbon_domain.names import type_label
from carbon_domain.services.reads.display_state import (
    ORDER,
    DisplayState,
    FailedRun,
    Progress,
    TypeFacts,
    decide,
    decide_module,
)

progress = st.builds(Progress, job_id=st.integers(1, 10**6), pipeline_id=st.none(),
                     done=st.integers(0, 1000), total=st.integers(0, 1000),
                     queued=st.booleans())
failed = st.builds(FailedRun, job_id=st.integers(1, 10**6), pipeline_id=st.none(),
                   aborted=st.booleans(), aborted_by=st.sampled_from([None, "alice"]),
                   chunks_done=st.integers(0, 8), chunks_total=st.integers(0, 8),
                   message=st.none())
facts = st.builds(TypeFacts, stale_reasons=st.lists(st.text(min_size=1), max_size=2).map(tuple),
                  active=st.none() | progress, failed=st.none() | failed,
                  missing=st.lists(st.text(min_size=1), max_size=2).map(tuple),
                  entry_count=st.integers(0, 5))


@given(facts)
def test_exactly_one_state_in_precedence_order(f: TypeFacts) -> None:
    shown = decide(f)
    assert shown.state in DisplayState
    applies = {DisplayState.recalculating: f.active is not None,
               DisplayState.failed: f.failed is not None,
               DisplayState.needs_recalculation: bool(f.stale_reasons),
               DisplayState.incomplete: bool(f.missing),
               DisplayState.up_to_date: True}
    assert shown.state == next(s for s in ORDER if applies[s])
    assert (shown.action == "Retry") == (shown.state == DisplayState.failed)
    # A state that asks for work always says why; "up to date" never carries a reason.
    if shown.state in (DisplayState.needs_recalculation, DisplayState.failed):
        assert shown.reasons
    if shown.state == DisplayState.up_to_date:
        assert shown.reasons == [] and shown.label.startswith("✓ up to date")
    else:
        assert "up to date" not in shown.label


@given(st.lists(st.sampled_from(list(DisplayState)), max_size=8), st.booleans())
def test_module_state_is_its_most_pressing_type(states: list[DisplayState],
                                                aggregating: bool) -> None:
    md = decide_module(states, aggregating)
    assert sum(md.counts.values()) == len(states)
    want = next((s for s in ORDER if s in states), DisplayState.up_to_date)
    if aggregating:
        want = DisplayState.recalculating
    assert md.state == want
    if md.state != DisplayState.up_to_date:
        assert "up to date" not in md.label
    assert (md.action == "Retry") == (DisplayState.failed in states)


@given(st.lists(st.sampled_from(list(DisplayState)), max_size=8), st.booleans())
def test_a_failed_aggregation_makes_the_module_failed_unless_it_is_rebuilt(
        states: list[DisplayState], aggregating: bool) -> None:
    why = "aggregation #41 failed: the purchase total of unit Lab A (UA) for 2025 is not finite"
    md = decide_module(states, aggregating, why)
    if aggregating or DisplayState.recalculating in states:
        assert md.state == DisplayState.recalculating and md.detail is None
    else:
        assert (md.state, md.label, md.detail) == (DisplayState.failed,
                                                   "✗ totals not updated", why)
    assert "up to date" not in md.label
    assert sum(md.counts.values()) == len(states)


def test_where_a_run_stopped() -> None:
    run = FailedRun(398, None, aborted=True, aborted_by="alice", chunks_done=2, chunks_total=8,
                    message="Aborted by alice")
    assert run.text == "recalculation #398 aborted by alice at chunk 3/8 — numbers partly rewritten"
    none = FailedRun(7, None, aborted=False, aborted_by=None, chunks_done=0, chunks_total=0,
                     message=None)
    assert none.text == "recalculation #7 failed before any chunk ran — no numbers rewritten"
    assert decide(TypeFacts(failed=none)).detail == none.text
    # After a data upload replaced the entries, their rows went with them: "no numbers
    # rewritten" would be false.
    replaced = FailedRun(9, None, aborted=True, aborted_by="bob", chunks_done=0, chunks_total=1,
                         message=None, staged=True, replaced_by=8)
    assert replaced.text == ("recalculation #9 aborted by bob at chunk 1/1 — the entries of data"
                             " entry upload #8 have no numbers yet")
    assert decide(TypeFacts(active=Progress(1, None, 40, 120, queued=False))).detail == (
        "40/120 entries")
    assert type_label("it") == "IT" and type_label("external_ai") == "External AI"


def test_an_up_to_date_module_without_entries_says_so() -> None:
    """As a type does: its 0.00 t is no computed total (the console's cards of an empty
    year all said a bare "✓ up to date")."""
    fresh = [DisplayState.up_to_date, DisplayState.up_to_date]
    assert decide_module(fresh, entry_count=0).label == "✓ up to date (no entries)"
    assert decide_module(fresh, entry_count=3).label == "✓ up to date"
    assert decide_module(fresh).label == "✓ up to date"  # not counted: nothing claimed
    # Any other state is its own.
    assert decide_module([DisplayState.incomplete], entry_count=0).label == "◌ 1 type incomplete"
