"""From job ids to the facts of a type's status: which input is the last one, whether a
recalculation covers it, whether the last run failed or was aborted (and where it stopped),
whether the formula changed since its rows were computed, whether the module's last
aggregation failed, and every reason in an operator's words. ``status.py`` and
``stale_stats.py`` shape these for the surfaces; ``display_state.decide`` and
``decide_module`` pick the one state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES
from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import JobResult, JobState, JobType
from carbon_domain.formula_versions import formula_change
from carbon_domain.services.reads.display_state import (
    DisplayState,
    FailedRun,
    ModuleDisplay,
    Progress,
    TypeFacts,
    decide_module,
)
from carbon_domain.services.reads.pipeline_facts import queued_silence, quiet
from carbon_domain.services.reads.status_probes import (
    FACILITY_SOURCE_OF,
    ComboIds,
    JobBrief,
    chunk_progress,
    combo_ids,
    covering_recalcs,
    input_kinds,
    input_label,
    job_briefs,
    last_input_job,
    types_with_something,
)
from carbon_domain.services.recalc import inputs_read

LABELS = {"factor_ingest": "factor upload", "csv_ingest": "data entry upload",
          "reference_ingest": "reference upload"}


@dataclass(slots=True)
class Core:
    combo: ComboIds
    module_combo: ComboIds
    input_id: int
    covering_id: int | None  # a recalculation that read every input of the type, if any
    formula_reason: str | None = None  # set once the recalculations' meta is read
    failed: FailedRun | None = None
    # What the last good recalculation's plan read (None: planned before the record).
    read: inputs_read.InputsRead | None = None
    unread_id: int | None = None  # the input it did not read, when it is not the last one
    late: tuple[int, ...] = ()  # inputs pending when it read that have landed since
    # The data entry upload whose entries no good recalculation computed (see replacing_upload).
    replaced_by: int | None = None
    # Nothing to recalculate and nothing of it counted: no entry of the year, no emission
    # row and no recalculation ever finished (see ``cores``).
    empty: bool = False

    @property
    def input_needs(self) -> bool:
        """The last input is newer than every good recalculation, and a recalculation would
        compute or clear something: not for a type that is ``empty`` (factors alone)."""
        return self.covering_id is None and not self.empty

    @property
    def needs(self) -> bool:
        """Recalculating would change something: an uncovered input, another formula, or a
        last run that stopped after rewriting part of the rows. A run that failed or was
        aborted before any chunk finished left the last good numbers as they were: it shows
        as failed (and can be retried) but makes nothing stale."""
        return (self.input_needs or bool(self.formula_reason)
                or (self.failed is not None and self.failed.partly_rewritten))

    @property
    def det(self) -> int:
        assert self.combo.det is not None  # module rows (det None) never become cores
        return self.combo.det


def cores(session: Session, year: int, modules: list[int] | None
          ) -> tuple[list[Core], dict[int, JobBrief]]:
    """The status facts of every (module, type) with an input for ``year``, and the briefs
    of the jobs they name."""
    combos = combo_ids(session, year, modules)
    by_module = {c.module: c for c in combos if c.det is None}
    out: list[Core] = []
    order = {d.value: i for dets in MODULE_DATA_ENTRY_TYPES.values() for i, d in enumerate(dets)}
    pairs = [(combo, combo.det) for combo in combos if combo.det is not None]
    for combo, det in sorted(pairs, key=lambda p: (p[0].module, order[p[1]])):
        mc = by_module[combo.module]
        last = last_input_job(combo, mc, input_kinds(det))
        if last is None:
            continue
        out.append(Core(combo, mc, last, None))
    _mark_empty(session, year, out)
    _cover(session, year, out)
    ids = {i for c in out for i in (c.input_id, c.unread_id, c.combo.finished_recalc,
                                    c.combo.good_recalc, c.combo.active_recalc,
                                    c.module_combo.finished_aggregation, *c.late,
                                    *_data_uploads(c)) if i}
    briefs = job_briefs(session, ids)
    failed_ids = {c.combo.finished_recalc for c in out if _last_failed(c, briefs)}
    chunks = chunk_progress(session, {i for i in failed_ids if i})
    for c in out:
        c.replaced_by = replacing_upload(c, briefs)
        last_good = briefs.get(c.combo.good_recalc or 0)
        if last_good is not None:
            c.formula_reason = formula_change(c.det, {"recalculation": last_good.recalculation})
        if _last_failed(c, briefs):
            fin = briefs[c.combo.finished_recalc or 0]
            done, total = chunks.get(fin.id, (0, 0))
            c.failed = FailedRun(fin.id, _str(fin.pipeline_id), fin.aborted, fin.aborted_by,
                                 done, total, fin.status_message, staged=fin.staged,
                                 replaced_by=c.replaced_by)
    return out, briefs


def _data_uploads(c: Core) -> tuple[int | None, int | None]:
    """The type's last data entry upload of its own and its module's last module-wide one."""
    return (c.combo.inputs.get(JobType.csv_ingest),
            c.module_combo.inputs.get(JobType.csv_ingest))


def replacing_upload(c: Core, briefs: dict[int, JobBrief]) -> int | None:
    """The data entry upload that replaced the type's entries after its last good
    recalculation read its inputs (or with none ever), else None. The upload deleted the
    entries it replaced with their rows; the ones it loaded have no row until a run computes
    them, so that run's counts (entries without a factor, not computed) are of entries that
    are gone. A module-wide upload that kept the type's entries replaced nothing of it."""
    own, wide = _data_uploads(c)
    wide_brief = briefs.get(wide or 0)
    if wide_brief is not None and c.det in wide_brief.kept_types:
        wide = None
    last = max((i for i in (own, wide) if i), default=None)
    good = c.combo.good_recalc
    if last is None or good is None:
        return last
    if c.read is not None:  # what its plan recorded it read
        return last if last > c.read.upto or last in c.late else None
    if last == c.input_id:
        return None if c.covering_id else last
    return last if last > good else None


def _mark_empty(session: Session, year: int, out: list[Core]) -> None:
    """Which types have nothing a recalculation could compute or clear (``Core.empty``):
    no entry of the year, no emission row and no recalculation of the type and year ever
    finished. Statistics only sum rows, and only a recalculation writes rows, so nothing of
    it is counted either: factors alone are "✓ up to date (no entries)", not "never
    recalculated". A type whose entries went after a recalculation (an upload or a revert
    that emptied it: its old rows may still be in the statistics), or whose last run failed,
    has a finished recalculation: it stays stale until one covers its inputs."""
    never = {c.det for c in out if c.combo.finished_recalc is None}
    held = types_with_something(session, year, never)
    for c in out:
        c.empty = c.det in never and c.det not in held


def _cover(session: Session, year: int, out: list[Core]) -> None:
    """Which good recalculation read every landed input of each type (``covering_id``).

    One that recorded what its plan read (``inputs_read``) covers an input only if it had
    landed when the plan read it, whatever the ids. One planned before the record keeps the
    id rule: a higher id, or ``covers_input_job_id`` for the one that was waiting when the
    input arrived."""
    reads = inputs_read.recorded(session, {c.combo.good_recalc for c in out
                                           if c.combo.good_recalc})
    pending = {i for r in reads.values() for i in r.pending}
    landed = inputs_read.landed(session, year, pending)
    for c in out:
        good = c.combo.good_recalc
        c.read = reads.get(good or 0)
        if c.read is not None:
            c.late = tuple(sorted(landed.intersection(c.read.pending)))
            unread = inputs_read.unread(c.read, c.input_id, landed)
            c.covering_id = good if unread is None else None
            c.unread_id = unread
        elif good and good > c.input_id:
            c.covering_id = good
    # Not covered by a later recalculation: maybe by one that was waiting when it arrived.
    maybe = [(c.combo.module, c.det, c.input_id) for c in out
             if c.covering_id is None and c.read is None and c.combo.good_recalc]
    found = covering_recalcs(session, year, maybe)
    for c in out:
        if c.covering_id is None and c.read is None:
            c.covering_id = found.get((c.combo.module, c.det))


def _last_failed(c: Core, briefs: dict[int, JobBrief]) -> bool:
    fin = briefs.get(c.combo.finished_recalc or 0)
    return (fin is not None and fin.result == JobResult.ERROR
            and fin.id != c.combo.good_recalc)


def aggregation_failure(module_combo: ComboIds, briefs: dict[int, JobBrief]) -> str | None:
    """Why the module's totals were not updated: the last finished aggregation of the
    (module, year) ended ERROR ("aggregation #41 failed: the purchase total of unit Lab A
    (UA) for 2025 is not finite: …"), else None."""
    agg = briefs.get(module_combo.finished_aggregation or 0)
    if agg is None or agg.result != JobResult.ERROR:
        return None
    if agg.aborted:
        return f"aggregation #{agg.id} aborted by {agg.aborted_by or 'an operator'}"
    why = (agg.status_message or "").removeprefix("ERROR: ").removeprefix("totals not updated: ")
    return f"aggregation #{agg.id} failed" + (f": {why}" if why else "")


def module_display(mine: list[Core], briefs: dict[int, JobBrief], states: list[DisplayState],
                   entry_count: int | None = None) -> tuple[ModuleDisplay, bool, str | None]:
    """The one state of a module (``decide_module``) from its types' cores and display
    ``states``, with whether its totals are being rebuilt (a recalculation of a type or of
    the module, or its aggregation, is active) and why they were not updated (its last
    aggregation failed): what the status read and the monitoring read both show."""
    mc = mine[0].module_combo
    aggregating = bool(any(briefs.get(c.combo.active_recalc or 0) is not None for c in mine)
                       or mc.active_aggregation or mc.active_module_recalc)
    agg_failed = aggregation_failure(mc, briefs)
    return (decide_module(states, aggregating, agg_failed, entry_count), aggregating,
            agg_failed)


def facts(c: Core, briefs: dict[int, JobBrief], missing: list[str], entry_count: int
          ) -> TypeFacts:
    """What ``display_state.decide`` reads of one type."""
    reasons = [r for r in (input_reason(c, briefs), c.formula_reason) if r]
    active = briefs.get(c.combo.active_recalc or 0)
    progress = None if active is None else Progress(
        active.id, _str(active.pipeline_id), active.progress_done, active.progress_total,
        queued=active.state != JobState.RUNNING, sent=active.state != JobState.NOT_STARTED,
        silent=_silence(active, briefs))
    return TypeFacts(tuple(reasons), progress, c.failed, tuple(missing), entry_count)


def _silence(active: JobBrief, briefs: dict[int, JobBrief]) -> str | None:
    """What its pipeline card says when nothing of the pipeline moved for minutes, judged on
    the recalculations of that pipeline the read has (a type queued behind its siblings'
    chunks is not silent while they progress)."""
    mine = [b for b in briefs.values() if b.pipeline_id == active.pipeline_id
            and b.job_type == JobType.emission_recalc]
    if active.state == JobState.QUEUED:
        # On the broker, none of its pipeline's recalculations started: the pipeline card's
        # "queued for 5 min … and no worker started it" (queued behind a running sibling,
        # it is not silent while the sibling moves).
        if any(b.state != JobState.QUEUED for b in mine):
            return None
        queued = queued_silence([b.dispatched_at for b in mine if b.dispatched_at], utcnow())
        return queued.text if queued is not None else None
    if active.state != JobState.RUNNING:
        return None
    found = quiet((t for b in mine for t in (b.heartbeat_at, b.finished_at)),
                  (b.heartbeat_at for b in mine if b.state == JobState.RUNNING), utcnow())
    return found.text if found is not None else None


def stale_reason(c: Core, briefs: dict[int, JobBrief]) -> str | None:
    """Every reason the type needs recalculation, in one line (None when it does not)."""
    if not c.needs:
        return None
    reasons = [r for r in (input_reason(c, briefs), c.formula_reason) if r]
    if not reasons and c.failed is not None:  # its inputs were covered, then a run failed
        reasons = [c.failed.text]
    return "; ".join(reasons)


def input_reason(c: Core, briefs: dict[int, JobBrief]) -> str | None:
    """Why an input makes the type stale, in the words an operator uses: the input the last
    good recalculation did not read (the last input unless an earlier one landed late)."""
    if not c.input_needs:
        return None
    src_id = c.unread_id or c.input_id
    src = briefs.get(src_id)
    if src is None:
        return f"input job #{src_id} is newer than the last recalculation"
    upload = describe_input(src)
    fin = briefs.get(c.combo.finished_recalc or 0)
    if fin is not None and fin.id > src.id and fin.result == JobResult.ERROR:
        why = f": {fin.status_message}" if fin.status_message else ""
        return f"recalculation #{fin.id} failed after {upload}{why}"
    good = briefs.get(c.combo.good_recalc or 0)
    if good is None:
        return f"never recalculated since {upload}"
    if src.id < good.id:  # accepted before the recalculation, landed after its plan read
        return f"{upload} landed after recalculation #{good.id} read its inputs"
    return f"{upload} is newer than recalculation #{good.id}"


def describe_input(src: JobBrief) -> str:
    """"factor upload #31 of 2025-03-02 09:12 by alice"; "recalculation #253 of … by alice
    (of a type the facility factors are computed from)"."""
    when = f" of {src.created_at:%Y-%m-%d %H:%M}" if src.created_at else ""
    who = f" by {src.created_by}" if src.created_by else ""
    if src.job_type == JobType.emission_recalc:
        return f"recalculation #{src.id}{when}{who} ({FACILITY_SOURCE_OF})"
    return f"{input_label(src)} #{src.id}{when}{who}"


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None
