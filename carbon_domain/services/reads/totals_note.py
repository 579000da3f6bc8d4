"""Whether a module's stored totals are the numbers of the entries it has now, in one
sentence for the pages that show those totals beside entry counts (the console's "entries by
unit": each unit's entries as stored now, its t CO2-eq from the module's statistics).

The statistics are the module's last aggregation. They are its entries' numbers when every
type is up to date (or only incomplete: an entry without a factor has no row either way).
Otherwise — a type with entries needs recalculation, a type is being recalculated or its
last run failed (after a data upload that replaced its entries, none of the new ones has a
number), or the module's last aggregation failed or is running — the note says so in the
status read's own words (``status.year_status``: each such type's state detail or reasons),
never a second computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from carbon_domain.names import type_label
from carbon_domain.services.reads.display_state import DisplayState
from carbon_domain.services.reads.status import TypeStatus, year_status

#: States whose stored totals are the entries' numbers now.
CURRENT = frozenset({DisplayState.up_to_date.value, DisplayState.incomplete.value})


@dataclass(frozen=True, slots=True)
class TotalsNote:
    module_type_id: int
    state: str  # the module's display state
    state_label: str  # its badge: "✗ 1 type failed"
    computed_at: datetime | None  # when its statistics were computed
    # "⚠ Equipment is not up to date: IT — recalculation #7 aborted by alice before any
    # chunk ran — the entries of data entry upload #6 have no numbers yet."
    text: str


def totals_note(session: Session, year: int, module_type_id: int) -> TotalsNote | None:
    """Why the module's stored totals of ``year`` are not its entries' numbers now; None
    when they are (or the module has no input for the year)."""
    found = [m for m in year_status(session, year) if m.module_type_id == module_type_id]
    if not found:
        return None
    m = found[0]
    why = [_why(t) for t in m.data_entry_types if _behind(t)]
    if m.aggregation_failed:
        why.append(f"its totals were not updated: {m.aggregation_failed}")
    elif m.aggregation_in_progress and not why:
        why.append("its totals are being updated")
    if not why:
        return None
    return TotalsNote(module_type_id, m.state, m.state_label, m.computed_at,
                      f"⚠ {type_label(m.module_name)} is not up to date: {'; '.join(why)}.")


def _behind(t: TypeStatus) -> bool:
    """The type's part of the totals is not its entries' numbers now. A type without
    entries is stale only while the totals may still count its old rows (its entries went
    after a recalculation: status_facts.Core.empty); with factors alone it is up to date."""
    return t.state not in CURRENT


def _why(t: TypeStatus) -> str:
    """"IT — recalculation #7 aborted by alice …" (its detail, else its reasons)."""
    said = t.state_detail or "; ".join(t.reasons) or t.state_label
    return f"{type_label(t.data_entry_type_name)} — {said}"
