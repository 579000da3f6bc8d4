"""Whether an export's numbers are up to date, and if not, what is not: the status read's
own state (``reads.status.year_status``, what the console's cards, ``GET
/v1/sync/recalculation-status`` and ``carbon status`` show), never a second computation.

An export is not up to date when, in its scope:

- a type needs recalculation (its ``needs_recalculation``: an input newer than the rows —
  a factor, a reference set —, a formula version changed since they were computed, or a
  last run that stopped after rewriting part of them), or is being recalculated (only
  exported with ``allow_stale``); each with its display state and the status read's reasons;
- for ``results.csv`` (its numbers are the module statistics), a module's totals do not
  sum its rows: its last aggregation failed ("✗ totals not updated", with why), or they are
  being rebuilt while none of its types is listed already.

The scope of a type's detailed export is that type alone (an aggregation writes no emission
row); the scope of ``results.csv`` is the whole year, also for one unit's file (staleness
is per type and year, not per unit). A type that is only incomplete (entries without a
matching factor) is up to date with its inputs: it is not listed.

A type whose last recalculation failed or was aborted without rewriting a number (before
any chunk finished, or a full run's stage dropped), its inputs covered by the run before, is
up to date with its inputs (recalculating would change nothing) and the file holds the
numbers of the good run before: the warning says so in its own words ("1 type of 2025 kept
its numbers: IT (last recalculation failed; numbers are from the run before: …)",
``failed_types``), and ``up_to_date`` stays true. Before, it was left out: the console's
line, the CLI's warning and the API's headers said nothing of a type the status pages showed
"✗ last run failed".

The edges show :class:`ExportFreshness` as they are: the API as headers (``header_text``,
ASCII), the CLI as a warning on stderr and fields of ``--json``, the console beside its
download links (``warning``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from carbon_domain.names import type_label
from carbon_domain.services.reads.display_state import DisplayState
from carbon_domain.services.reads.status import ModuleStatus, TypeStatus, year_status


@dataclass(frozen=True, slots=True)
class StaleExportType:
    """A data entry type whose numbers in the export are not up to date."""

    module_type_id: int
    module_name: str
    data_entry_type_id: int
    data_entry_type_name: str
    state: str  # its display state: needs_recalculation | failed | recalculating
    state_label: str  # its badge: "⚠ needs recalculation"
    reasons: list[str]  # the status read's reasons: "factor upload #7 of IT by alice …"


@dataclass(frozen=True, slots=True)
class StaleExportModule:
    """A module whose totals (results.csv's numbers) do not sum its current rows."""

    module_type_id: int
    module_name: str
    state: str  # the module's display state: failed | recalculating
    state_label: str  # its badge: "✗ totals not updated" | "⟳ totals being updated"
    reason: str | None  # "aggregation #41 failed: the purchase total of unit Lab A …"


#: What the export says of a type whose last recalculation failed without rewriting a
#: number: the file holds the numbers of the good run before it.
FAILED_KEPT = "last recalculation failed; numbers are from the run before"


@dataclass(frozen=True, slots=True)
class ExportFreshness:
    year: int
    up_to_date: bool
    stale_types: list[StaleExportType] = field(default_factory=list)
    stale_modules: list[StaleExportModule] = field(default_factory=list)
    # "⚠ 1 type of 2025 is not up to date: IT (needs recalculation: …)"; None when it is
    # and no type's last run failed.
    warning: str | None = None
    # Types whose last recalculation failed without rewriting a number (up to date with
    # their inputs: the numbers of the run before, said in the warning).
    failed_types: list[StaleExportType] = field(default_factory=list)

    def header_text(self) -> str | None:
        """The warning in ASCII names and states (an HTTP header is Latin-1 and one line):
        "1 type of 2025 is not up to date: it (needs_recalculation)"."""
        return _sentence(self.year, [(t.data_entry_type_name, t.state) for t in self.stale_types],
                         [(m.module_name, m.state) for m in self.stale_modules],
                         kept=[(t.data_entry_type_name, t.state) for t in self.failed_types])


def export_freshness(session: Session, year: int, det: int | None = None) -> ExportFreshness:
    """How up to date ``results.csv`` of ``year`` (``det`` None) or the detailed export of
    type ``det`` is: one status read."""
    return freshness_of(year_status(session, year), year, det)


def freshness_of(modules: Sequence[ModuleStatus], year: int, det: int | None = None
                 ) -> ExportFreshness:
    """:func:`export_freshness` from a status read already made (the console's page reads
    the year once for its cards and its download links)."""
    types: list[StaleExportType] = []
    kept: list[StaleExportType] = []  # last run failed, numbers of the run before
    failed: list[StaleExportModule] = []
    for m in modules:
        scoped = [t for t in m.data_entry_types if det is None or t.data_entry_type_id == det]
        mine = [_stale_type(m, t) for t in scoped
                if t.needs_recalculation or t.recalculation_in_progress]
        types += mine
        kept += [_stale_type(m, t) for t in scoped if t.state == DisplayState.failed
                 and not (t.needs_recalculation or t.recalculation_in_progress)]
        if det is not None:
            continue
        if m.aggregation_failed is not None or (m.aggregation_in_progress and not mine):
            failed.append(StaleExportModule(m.module_type_id, m.module_name, m.state,
                                            m.state_label, m.aggregation_failed))
    if not types and not failed and not kept:
        return ExportFreshness(year, True)
    warning = _sentence(year, [(_type_text(t), "") for t in types],
                        [(_module_text(m), "") for m in failed], human=True,
                        kept=[(_kept_text(t), "") for t in kept])
    return ExportFreshness(year, not types and not failed, types, failed, warning, kept)


def _stale_type(m: ModuleStatus, t: TypeStatus) -> StaleExportType:
    return StaleExportType(m.module_type_id, m.module_name, t.data_entry_type_id,
                           t.data_entry_type_name, t.state, t.state_label, list(t.reasons))


def _words(state_label: str) -> str:
    """A badge without its symbol: "⚠ needs recalculation" → "needs recalculation"."""
    symbol, _, words = state_label.partition(" ")
    return words if words and not symbol.isalnum() else state_label


def _type_text(t: StaleExportType) -> str:
    why = "; ".join(t.reasons)
    if t.state == DisplayState.recalculating:
        why = ""  # its reasons are the old ones: what it is doing about them is the news
    return (f"{type_label(t.data_entry_type_name)} ({_words(t.state_label)}"
            f"{': ' + why if why else ''})")


def _kept_text(t: StaleExportType) -> str:
    """"IT (last recalculation failed; numbers are from the run before: recalculation #9
    failed before any chunk ran — no numbers rewritten)"."""
    why = "; ".join(t.reasons)
    return f"{type_label(t.data_entry_type_name)} ({FAILED_KEPT}{': ' + why if why else ''})"


def _module_text(m: StaleExportModule) -> str:
    return f"{type_label(m.module_name)} ({m.reason or _words(m.state_label)})"


def _sentence(year: int, types: list[tuple[str, str]], modules: list[tuple[str, str]],
              human: bool = False, kept: list[tuple[str, str]] | None = None
              ) -> str | None:
    """"N types of YEAR are not up to date: a, b; the totals of YEAR were not updated: c;
    N types of YEAR kept their numbers: d" (``kept``: last run failed, numbers of the run
    before; ``human``: the texts as given, with the ⚠; else "name (state)" pairs)."""
    def items(pairs: list[tuple[str, str]]) -> str:
        return ", ".join(name if human else f"{name} ({state})" for name, state in pairs)

    parts = []
    if types:
        n = len(types)
        parts.append(f"{n} type{'s' if n != 1 else ''} of {year} {'are' if n != 1 else 'is'}"
                     f" not up to date: {items(types)}")
    if modules:
        parts.append(f"the totals of {year} were not updated: {items(modules)}")
    if kept:
        n = len(kept)
        parts.append(f"{n} type{'s' if n != 1 else ''} of {year} kept"
                     f" {'their' if n != 1 else 'its'} numbers: {items(kept)}")
    if not parts:
        return None
    return ("⚠ " if human else "") + "; ".join(parts)
