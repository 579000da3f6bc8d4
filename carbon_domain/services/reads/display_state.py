"""The one display state of a (module, data entry type, year), and of a module.

Every surface (the console's module cards and recalculation dialog, ``GET
/v1/sync/recalculation-status``, ``carbon status``) shows what :func:`decide` returns, so
they can never disagree, and a type never shows two states at once ("✓ up to date" beside
"⟳ recalculating"). Exactly one of, in this order of precedence:

- ``recalculating`` — a recalculation of the type is queued or running (its progress);
- ``failed`` — the last recalculation failed or was aborted before it finished (where it
  stopped, whether numbers were partly rewritten); recalculating it is a retry;
- ``needs_recalculation`` — an input is newer than the last good recalculation, or the
  code's formula version differs from the one its rows were computed with (the reasons);
  never a type with no entry that no recalculation ever finished for and that has no
  emission row (factors alone): there is nothing to recalculate, it is
  :data:`UP_TO_DATE_NO_ENTRIES` (``status_facts.Core.empty``);
- ``incomplete`` — up to date with its inputs, but something it needs is missing (no live
  factors, stations, rooms or exchange rates missing, entries the last good recalculation
  found no matching factor for);
- ``up_to_date``.

The module's state is its most pressing type's state in the same order, except that a
running aggregation of the module (its totals being rebuilt) makes it ``recalculating``, and
a last aggregation that failed (its totals were not updated: they no longer sum its rows)
makes it ``failed``, "✗ totals not updated", with the reason ("aggregation #41 failed: …").
Pure functions over plain facts: no database here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class DisplayState(StrEnum):
    recalculating = "recalculating"
    failed = "failed"
    needs_recalculation = "needs_recalculation"
    incomplete = "incomplete"
    up_to_date = "up_to_date"


#: Precedence: the first state that applies wins, for a type and for a module.
ORDER = (DisplayState.recalculating, DisplayState.failed, DisplayState.needs_recalculation,
         DisplayState.incomplete, DisplayState.up_to_date)
LABEL = {DisplayState.recalculating: "⟳ recalculating",
         DisplayState.failed: "✗ last run failed",
         DisplayState.needs_recalculation: "⚠ needs recalculation",
         DisplayState.incomplete: "◌ incomplete",
         DisplayState.up_to_date: "✓ up to date"}
#: The up-to-date badge of a type, or a module, without a single entry of the year: its
#: 0.00 t is no computed total. A type with factors but no entry, which no recalculation
#: ever ran for and which has no emission row, shows it too: there is nothing to recalculate
#: (status_facts.Core.empty).
UP_TO_DATE_NO_ENTRIES = LABEL[DisplayState.up_to_date] + " (no entries)"


#: What queued work waits for, in the words every surface uses (a type's progress, its
#: pipeline's card and row: console/pipelines.py).
NOT_ON_BROKER = "not on the broker yet (the reconciler sends it)"
WAITING_FOR_WORKER = "waiting for a worker"


@dataclass(frozen=True, slots=True)
class Progress:
    job_id: int
    pipeline_id: str | None
    done: int  # entries recalculated so far
    total: int  # entries planned (0 while it waits for a worker)
    queued: bool  # not started yet
    # On the broker (QUEUED) or being worked on; False while its job row waits in the
    # outbox (NOT_STARTED: the broker did not take the message, or not yet).
    sent: bool = True
    # Running, and nothing of its pipeline moved for minutes ("no progress for 4 min (since
    # …)": pipeline_facts.quiet), or queued that long ("queued for 5 min …"): the same
    # words as its pipeline card's.
    silent: str | None = None

    @property
    def text(self) -> str:
        if not self.sent:
            return NOT_ON_BROKER
        if self.queued or not self.total:
            return f"{WAITING_FOR_WORKER} — {self.silent}" if self.silent else WAITING_FOR_WORKER
        done = entries_progress(self.done, self.total)
        return f"{done} — {self.silent}" if self.silent else done


def entries_progress(done: int, total: int) -> str:
    """A running type's count, "875/1,537 entries"."""
    return f"{done:,}/{total:,} entries"


@dataclass(frozen=True, slots=True)
class FailedRun:
    """The last recalculation of the type, when it did not finish."""

    job_id: int
    pipeline_id: str | None
    aborted: bool
    aborted_by: str | None
    chunks_done: int
    chunks_total: int
    message: str | None
    # A full recalculation writes into a stage swapped in at its finish: stopped before it,
    # the stage is dropped, whatever its chunks wrote, and the live numbers never changed.
    # An incremental one rewrites its entries' rows in place, chunk by chunk.
    staged: bool = False
    # The data entry upload that replaced the type's entries after the last good run read
    # its inputs: the replaced entries' rows went with them, the new ones have none yet.
    replaced_by: int | None = None

    @property
    def partly_rewritten(self) -> bool:
        return self.chunks_done > 0 and not self.staged

    @property
    def text(self) -> str:
        """"aborted by alice at chunk 3/8 — numbers partly rewritten"."""
        what = f"aborted by {self.aborted_by or 'an operator'}" if self.aborted else "failed"
        if not self.chunks_total:
            where = "before any chunk ran"
        elif self.chunks_done >= self.chunks_total:
            where = f"after its {self.chunks_total} chunks"
        else:
            where = f"at chunk {self.chunks_done + 1}/{self.chunks_total}"
        if not self.partly_rewritten and self.replaced_by is not None:
            left = f"the entries of data entry upload #{self.replaced_by} have no numbers yet"
        elif not self.partly_rewritten:
            left = "no numbers rewritten"
        elif self.chunks_done >= self.chunks_total:
            left = "numbers rewritten, totals not re-aggregated"
        else:
            left = "numbers partly rewritten"
        return f"recalculation #{self.job_id} {what} {where} — {left}"


@dataclass(frozen=True, slots=True)
class TypeFacts:
    """What :func:`decide` needs to know about one type (read by services/reads/status.py)."""

    stale_reasons: tuple[str, ...] = ()  # inputs newer than the last good run, formula change
    active: Progress | None = None
    failed: FailedRun | None = None  # only when the last finished run did not succeed
    missing: tuple[str, ...] = ()  # what makes it incomplete
    entry_count: int = 0


@dataclass(frozen=True, slots=True)
class TypeDisplay:
    state: DisplayState
    label: str  # the badge text
    reasons: list[str] = field(default_factory=list)  # why it needs recalculation
    detail: str | None = None  # progress, where a failed run stopped, or what is missing
    action: str = "Recalculate"  # the button's word: "Retry" after a failure


def decide(f: TypeFacts) -> TypeDisplay:
    """The one state of a type (see the module docstring for the order)."""
    reasons = list(f.stale_reasons) or ([f.failed.text] if f.failed is not None else [])
    if f.active is not None:
        return TypeDisplay(DisplayState.recalculating, LABEL[DisplayState.recalculating],
                           reasons, f.active.text)
    if f.failed is not None:
        return TypeDisplay(DisplayState.failed, LABEL[DisplayState.failed], reasons,
                           f.failed.text, "Retry")
    if reasons:
        return TypeDisplay(DisplayState.needs_recalculation,
                           LABEL[DisplayState.needs_recalculation], reasons)
    if f.missing:
        return TypeDisplay(DisplayState.incomplete, LABEL[DisplayState.incomplete], [],
                           "; ".join(f.missing))
    label = LABEL[DisplayState.up_to_date] if f.entry_count else UP_TO_DATE_NO_ENTRIES
    return TypeDisplay(DisplayState.up_to_date, label)


@dataclass(frozen=True, slots=True)
class ModuleDisplay:
    state: DisplayState
    label: str
    counts: dict[str, int]  # types per state (every state, zeros included)
    action: str  # "Recalculate" | "Retry"
    detail: str | None = None  # why its totals were not updated (a failed aggregation)


#: The module's badge when its last aggregation failed: the totals shown are not its rows'.
AGGREGATION_FAILED = "✗ totals not updated"


def decide_module(types: list[DisplayState], aggregating: bool = False,
                  aggregation_failed: str | None = None, entry_count: int | None = None
                  ) -> ModuleDisplay:
    """The module's state from its types' states; ``aggregating``: its totals are being
    rebuilt right now (the numbers on the card are about to change); ``aggregation_failed``:
    why its last aggregation failed (its totals were not updated), None when it did not;
    ``entry_count``: its types' entries of the year — up to date with none says so, as a
    type does ("✓ up to date (no entries)": its 0.00 t is not a computed total)."""
    counts = {s.value: sum(t == s for t in types) for s in ORDER}
    state = next((s for s in ORDER if counts[s.value]), DisplayState.up_to_date)
    if aggregating and state != DisplayState.recalculating:
        state = DisplayState.recalculating
    n = counts[state.value]
    action = "Retry" if counts[DisplayState.failed.value] else "Recalculate"
    if aggregation_failed and state != DisplayState.recalculating:
        return ModuleDisplay(DisplayState.failed, AGGREGATION_FAILED, counts, action,
                             aggregation_failed)
    if state == DisplayState.recalculating:
        label = (f"⟳ {n} type{'s' if n != 1 else ''} recalculating" if n
                 else "⟳ totals being updated")
    elif state == DisplayState.failed:
        label = f"✗ {n} type{'s' if n != 1 else ''} failed"
    elif state == DisplayState.needs_recalculation:
        label = f"⚠ {n} type{'s' if n != 1 else ''} need{'s' if n == 1 else ''} recalculation"
    elif state == DisplayState.incomplete:
        label = f"◌ {n} type{'s' if n != 1 else ''} incomplete"
    else:
        label = UP_TO_DATE_NO_ENTRIES if entry_count == 0 else LABEL[DisplayState.up_to_date]
    return ModuleDisplay(state, label, counts, action)
